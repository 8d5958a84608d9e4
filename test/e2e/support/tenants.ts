import { CHROME_UA, eventually, uid } from '@app/testing';
import { ADMIN_KEY, TestEngine, postJson, seedCatalog } from './engine';

export interface Reply {
  status: number;
  body: any;
  headers: Headers;
}

/** One HTTP call with an optional API key; JSON in and out. */
export async function call(base: string, method: string, path: string, key?: string, body?: unknown): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (key !== undefined) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/** An advertiser with one offer, a publisher, and an API key for each. */
export interface Tenant {
  advertiserId: string;
  offerId: string;
  publisherId: string;
  advertiserKey: string;
  advertiserKeyId: string;
  publisherKey: string;
  publisherKeyId: string;
}

export async function seedTenant(t: TestEngine, name: string, offer: Record<string, unknown> = {}): Promise<Tenant> {
  const ids = await seedCatalog(t, uid(name), offer);
  const key = async (role: string, subjectId: string) => {
    const res = await call(t.api, 'POST', '/v1/admin/api-keys', ADMIN_KEY, { role, subjectId, label: `${name} ${role}` });
    if (res.status !== 201) throw new Error(`creating a ${role} key: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body as { id: string; key: string };
  };
  const adv = await key('advertiser', ids.advertiserId);
  const pub = await key('publisher', ids.publisherId);
  return { ...ids, advertiserKey: adv.key, advertiserKeyId: adv.id, publisherKey: pub.key, publisherKeyId: pub.id };
}

let ipCounter = 10;
/** A fresh public US address, so that per-IP rules never link one test's clicks to another's. */
export function freshIp(): string {
  ipCounter++;
  return `8.8.${Math.floor(ipCounter / 250)}.${(ipCounter % 250) + 1}`;
}

export interface Traffic {
  /** A clean click and its approved conversion. */
  approved: { clickId: string; conversionId: string };
  /** A click from a bot user agent (invalid). */
  botClickId: string;
  /** A conversion 1 s after its click (CTIT_TOO_SHORT: rejected). */
  rejected: { clickId: string; conversionId: string };
  /** A conversion from another country than its click (GEO_MISMATCH: hold). */
  held: { clickId: string; conversionId: string };
}

/** One of each outcome through the gateway for this offer and publisher; resolves once all are decided and stored. */
export async function sendTraffic(t: TestEngine, ids: { offerId: string; publisherId: string }, subId = 'spring'): Promise<Traffic> {
  const click = async (overrides: Record<string, unknown> = {}) => {
    const res = await postJson(`${t.gateway}/v1/clicks`, {
      offerId: ids.offerId,
      publisherId: ids.publisherId,
      subId,
      ip: freshIp(),
      userAgent: CHROME_UA,
      ts: new Date(Date.now() - 600_000).toISOString(),
      ...overrides,
    });
    if (res.status !== 202) throw new Error(`click: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.id as string;
  };
  const conversion = async (clickId: string, overrides: Record<string, unknown> = {}) => {
    const res = await postJson(`${t.gateway}/v1/conversions`, { clickId, amount: 40, ...overrides });
    if (res.status !== 202) throw new Error(`conversion: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.id as string;
  };
  const approvedClick = await click();
  const botClickId = await click({ userAgent: 'python-requests/2.31.0' });
  const fastClick = await click({ ts: new Date(Date.now() - 1000).toISOString() });
  const heldClick = await click();
  const traffic: Traffic = {
    approved: { clickId: approvedClick, conversionId: await conversion(approvedClick) },
    botClickId,
    rejected: { clickId: fastClick, conversionId: await conversion(fastClick) },
    // The buyer's address is in the UK, the click came from the US.
    held: { clickId: heldClick, conversionId: await conversion(heldClick, { ip: '81.2.69.142' }) },
  };
  const conversions = [traffic.approved.conversionId, traffic.rejected.conversionId, traffic.held.conversionId];
  await eventually(
    async () =>
      (
        await t.db.query(
          `SELECT (SELECT count(*) FROM decisions WHERE conversion_id = ANY($1))::int AS d,
                  (SELECT count(*) FROM click_verdicts WHERE click_id = $2)::int AS v`,
          [conversions, botClickId],
        )
      ).rows[0],
    (r) => r.d === 3 && r.v === 1,
  );
  return traffic;
}
