// Shared by the k6 scripts: the engine's addresses, a seeded catalog and realistic click batches.
// Runs inside k6 (goja), not Node: only k6 modules and plain JavaScript here.
import http from 'k6/http';
import { check, fail } from 'k6';

export const GATEWAY_URL = __ENV.GATEWAY_URL || 'http://127.0.0.1:8080';
export const API_URL = __ENV.API_URL || 'http://127.0.0.1:3000';
export const ADMIN_KEY = __ENV.ARBITER_ADMIN_KEY || '';
/** Clicks per request: the gateway takes arrays; events/s = iterations/s × BATCH. */
export const BATCH = Number(__ENV.BATCH || 20);

/** DESIGN §10, as k6 sees it: the gateway's acknowledgement (stored on JetStream) and errors. */
export const THRESHOLDS = {
  http_req_failed: ['rate<0.001'],
  'http_req_duration{name:ingest}': ['p(99)<50'],
  checks: ['rate>0.999'],
};

/** Events per second → request iterations per second at BATCH events per request. */
export function perSecond(eventsPerSecond) {
  return Math.max(1, Math.round(eventsPerSecond / BATCH));
}

const AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36',
];
const PREFIXES = [8, 23, 31, 45, 52, 66, 81, 91, 103, 142, 176, 185, 203];

/** Creates (or re-creates: the admin API upserts) an advertiser, an offer and a publisher for the run. */
export function seedCatalog(run) {
  if (!ADMIN_KEY) fail('set ARBITER_ADMIN_KEY: the run seeds its own offer and publisher through the admin API');
  const headers = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
  const ids = { advertiserId: `k6-adv-${run}`, offerId: `k6-offer-${run}`, publisherId: `k6-pub-${run}` };
  const bodies = [
    ['advertisers', { id: ids.advertiserId, name: 'k6 advertiser' }],
    ['offers', { id: ids.offerId, advertiserId: ids.advertiserId, name: 'k6 offer', payout: 2 }],
    ['publishers', { id: ids.publisherId, name: 'k6 publisher' }],
  ];
  for (const [path, body] of bodies) {
    const res = http.post(`${API_URL}/v1/admin/${path}`, JSON.stringify(body), { headers });
    if (res.status >= 300) fail(`seeding ${path}: ${res.status} ${res.body}`);
  }
  return ids;
}

/** One request's worth of clicks: 20,000 distinct public addresses, a few browsers and sub ids. */
export function clickBatch(ids, n) {
  const clicks = [];
  for (let i = 0; i < BATCH; i++) {
    const k = ((n * BATCH + i) * 2654435761) % 20000;
    clicks.push({
      offerId: ids.offerId,
      publisherId: ids.publisherId,
      subId: `s${k % 50}`,
      ip: `${PREFIXES[k % PREFIXES.length]}.${(k >> 4) & 255}.${(k >> 8) & 255}.${(k % 250) + 1}`,
      userAgent: AGENTS[k % AGENTS.length],
    });
  }
  return clicks;
}

/** Posts a batch of clicks (with the admin key: JSON clicks need a publisher or admin key); every one must be accepted (202, per-item results). */
export function sendClicks(ids, n) {
  const res = http.post(`${GATEWAY_URL}/v1/clicks`, JSON.stringify(clickBatch(ids, n)), {
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    tags: { name: 'ingest' },
  });
  check(res, {
    'accepted (202)': (r) => r.status === 202,
    'every click accepted': (r) => r.status === 202 && r.json('accepted') === BATCH,
  });
}
