import { newWebhookSecret, signWebhook, verifyWebhook } from './signature';

describe('webhook signatures', () => {
  const secret = newWebhookSecret();
  const body = JSON.stringify({ conversionId: 'c-1', status: 'approved' });

  it('verifies what it signed', () => {
    expect(verifyWebhook(secret, signWebhook(secret, body, 1_700_000_000), body, 300, 1_700_000_100)).toBe(true);
  });

  it.each([
    ['another body', (h: string) => [h, `${body} `]],
    // The signature's first hex digit changed (to '0' unless it is one: then the mutation was a no-op, 1 run in 16).
    ['another signature', (h: string) => [h.replace(/v1=(.)/, (_, c: string) => `v1=${c === '0' ? '1' : '0'}`), body]],
    ['no header', () => [undefined, body]],
    ['a garbled header', () => ['nonsense', body]],
  ] as const)('refuses %s', (_, mutate) => {
    const [header, b] = mutate(signWebhook(secret, body, 1_700_000_000));
    expect(verifyWebhook(secret, header as string | undefined, b as string, 300, 1_700_000_000)).toBe(false);
  });

  it('refuses a replay outside the tolerance', () => {
    expect(verifyWebhook(secret, signWebhook(secret, body, 1_700_000_000), body, 300, 1_700_000_301)).toBe(false);
  });

  it('uses a different secret per advertiser', () => {
    expect(verifyWebhook(newWebhookSecret(), signWebhook(secret, body), body)).toBe(false);
  });

  it('signs with both secrets during a rotation, and either verifies', () => {
    const previous = newWebhookSecret();
    const header = signWebhook(secret, body, 1_700_000_000, previous);
    expect(header.split(',').filter((p) => p.startsWith('v1='))).toHaveLength(2);
    expect(verifyWebhook(secret, header, body, 300, 1_700_000_000)).toBe(true);
    expect(verifyWebhook(previous, header, body, 300, 1_700_000_000)).toBe(true);
    expect(verifyWebhook(newWebhookSecret(), header, body, 300, 1_700_000_000)).toBe(false);
  });
});
