import { CLICK_FEATURES } from '@app/features';
import { ModelRuntime } from '@app/model';
import { DEFAULT_RULESET } from '@app/rules';
import { CHROME_UA, aCatalog, aClick, at, fnv1a, fnvMulticollision } from '@app/testing';
import { ScoringEngine } from './scoring-engine';

/**
 * Distinct-count evasion (DESIGN §3a: every sender is an adversary). A publisher's S2S clicks
 * assert the visitor's device id and user agent. A fraudster who rotates device ids defeats the
 * per-device velocity (keyed by the exact id); what still sees it is the distinct counts — one IP
 * with hundreds of devices, one device with hundreds of user agents — which are sketches over a
 * hash of each value. Were that hash public (it was FNV-1a), the fraudster would rotate through ids
 * that all hash alike, built offline in milliseconds, and every count would read one.
 */
const N = 512;
const DEVICES = fnvMulticollision('dev-', 9);
const USER_AGENTS = fnvMulticollision(`${CHROME_UA} `, 9);
const feature = (name: (typeof CLICK_FEATURES)[number]) => CLICK_FEATURES.indexOf(name);

/** The model's inputs for each click, through the engine with the default rule set and model. */
function modelInputs(clicks: { deviceId: string; userAgent: string; ip: string }[]): Float64Array[] {
  const seen: Float64Array[] = [];
  const engine = new ScoringEngine(DEFAULT_RULESET, { featureSink: (kind, _id, x) => kind === 'click' && seen.push(Float64Array.from(x)) });
  engine.useModels(ModelRuntime.fromFile('models/default/model.json'), null);
  const catalog = aCatalog();
  clicks.forEach((c, i) => {
    const ts = at(i * 7_000);
    engine.scoreClick(aClick({ ts, ...c }), catalog, Date.parse(ts));
  });
  return seen;
}

describe('distinct-count evasion', () => {
  it('is attacked with device ids and user agents that each share one FNV-1a hash', () => {
    expect(new Set(DEVICES).size).toBe(N);
    expect(new Set(DEVICES.map((s) => fnv1a(s))).size).toBe(1);
    expect(new Set(USER_AGENTS).size).toBe(N);
    expect(new Set(USER_AGENTS.map((s) => fnv1a(s))).size).toBe(1);
  });

  it('one IP rotating colliding device ids counts as one IP with many devices, in the model inputs', () => {
    const x = modelInputs(DEVICES.map((deviceId) => ({ ip: '203.0.113.9', deviceId, userAgent: CHROME_UA })));
    expect(x).toHaveLength(N);
    const last = x[N - 1];
    // 512 devices, counted by a 32-register sketch (≈ 18 % standard error): well over a hundred,
    // as for ids nobody chose (below); colliding, the count read 1 (log1p(1) = 0.69).
    const devices = Math.expm1(last[feature('ip_distinct_devices_so_far')]);
    const visitors = Math.expm1(last[feature('ip_distinct_visitors_so_far')]);
    expect(devices).toBeGreaterThan(N / 2);
    expect(devices).toBeLessThan(N * 2);
    expect(visitors).toBeGreaterThan(N / 2);
    const plain = modelInputs(DEVICES.map((_, i) => ({ ip: '203.0.113.9', deviceId: `device-${i}`, userAgent: CHROME_UA })));
    expect(Math.expm1(plain[N - 1][feature('ip_distinct_devices_so_far')])).toBeGreaterThan(N / 2);
  });

  it('one device rotating colliding user agents (and IPs) counts as many user agents', () => {
    const x = modelInputs(USER_AGENTS.map((userAgent, i) => ({ ip: `198.51.100.${i & 255}`, deviceId: 'dev-1', userAgent })));
    const last = x[N - 1];
    const userAgents = Math.expm1(last[feature('device_distinct_user_agents_so_far')]);
    expect(userAgents).toBeGreaterThan(N / 2);
    expect(userAgents).toBeLessThan(N * 2);
  });
});
