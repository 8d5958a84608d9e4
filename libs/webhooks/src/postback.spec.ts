import type { Decision } from '@app/contracts';
import { postbackTemplateProblem, postbackValues, renderPostback } from './postback';
import { signedContent } from './webhook-delivery';

const decision = (overrides: Partial<Decision> = {}): Decision => ({
  kind: 'conversion',
  conversionId: 'v-1',
  clickId: 'c0.abc',
  offerId: 'shoes',
  publisherId: 'blog',
  advertiserId: 'shop',
  subId: 'spring',
  status: 'rejected',
  amount: 120,
  revenue: 12,
  payout: 4.5,
  currency: 'USD',
  ctitSeconds: 3,
  revision: 0,
  previousStatus: null,
  resolvedBy: 'engine',
  holdUntil: null,
  note: 'analyst note',
  actor: null,
  partition: 0,
  ts: '2026-11-20T14:03:11.000Z',
  score: 0.93,
  reasons: [
    { code: 'CTIT_TOO_SHORT', category: 'SIVT', severity: 'high', message: 'm', evidence: { ip: '203.0.113.9' }, monitorOnly: false },
    { code: 'IP_VELOCITY', category: 'SIVT', severity: 'medium', message: 'm', evidence: {}, monitorOnly: true },
  ],
  rulesetVersion: 'v1',
  modelVersion: 'm1',
  modelScore: 0.91,
  shadowModelVersion: null,
  shadowScore: null,
  decidedAt: '2026-11-20T14:03:12.000Z',
  latencyMs: 4,
  ...overrides,
});

describe('partner postback templates', () => {
  it('substitutes every macro URL-encoded, and a missing value as empty', () => {
    const url = renderPostback('https://t.example/pb?cid={click_id}&s1={sub1}&s2={sub2}&p={payout}&st={status}&r={reason}', {
      click_id: 'c0.a b',
      sub1: 'x&y=z',
      payout: 4.5,
      status: 'rejected',
      reason: 'CTIT_TOO_SHORT,IP_VELOCITY',
    });
    expect(url).toBe('https://t.example/pb?cid=c0.a%20b&s1=x%26y%3Dz&s2=&p=4.5&st=rejected&r=CTIT_TOO_SHORT%2CIP_VELOCITY');
  });

  it('gives a publisher its own data only: no sale amount, revenue, score, IP or note (DESIGN §3a)', () => {
    const values = postbackValues(decision(), { sub1: 'a', sub3: 'c' });
    expect(values).toEqual({
      click_id: 'c0.abc',
      conversion_id: 'v-1',
      offer_id: 'shoes',
      sub_id: 'spring',
      sub1: 'a',
      sub2: null,
      sub3: 'c',
      sub4: null,
      sub5: null,
      payout: 4.5,
      currency: 'USD',
      status: 'rejected',
      // Only what decided: the monitor-only reason did not.
      reason: 'CTIT_TOO_SHORT',
      revision: 0,
    });
    const everything = renderPostback(
      Object.keys(values)
        .map((k) => `{${k}}`)
        .join('/'),
      values,
    );
    for (const secret of ['120', '12', '0.93', '0.91', '203.0.113', 'analyst', 'shop']) expect(everything).not.toContain(secret);
  });

  it('names no reason on an approval', () => {
    expect(postbackValues(decision({ status: 'approved' }), null).reason).toBe('');
  });

  it.each([
    ['https://t.example/pb?cid={click_id}', null],
    ['https://t.example/{offer_id}/pb?cid={click_id}', null],
    ['https://t.example/pb?x={amount}', 'has unknown macros: {amount}'],
    ['https://{sub1}.t.example/pb', 'may use macros only in the path and query'],
    ['https://t.example{sub1}/pb', 'may use macros only in the path and query'],
    ['t.example/pb', 'is not an absolute http(s) URL'],
  ])('%s → %s', (template, problem) => {
    const found = postbackTemplateProblem(template);
    if (problem === null) expect(found).toBeNull();
    else expect(found).toContain(problem);
  });

  it('signs a GET over its path and query as sent, a POST over its body', () => {
    expect(signedContent({ method: 'GET', url: 'https://t.example/pb?cid=c0.a%20b&st=approved' })).toBe('/pb?cid=c0.a%20b&st=approved');
    expect(signedContent({ method: 'POST', url: 'https://t.example/x', body: '{"a":1}' })).toBe('{"a":1}');
  });
});
