import { EventNormalizer } from './normalizer';

/** Values the schema lets through but the engine could never store or represent (found by test/faults/poison.test.ts). */
describe('EventNormalizer: values at the edge of what can be stored', () => {
  const sut = new EventNormalizer({ partitions: 1, maxFutureSkewMs: 300_000, geo: () => null });
  const receivedAt = new Date('2026-06-01T12:00:00Z');
  const click = { offerId: 'o', publisherId: 'p', ip: '203.0.113.7', userAgent: 'Mozilla/5.0' };
  const conversion = { clickId: 'c0.x', amount: 10 };

  it.each([
    ['a leap second', '2016-12-31T23:59:60Z', false],
    ['an ordinary time', '2016-12-31T23:59:59Z', true],
  ])('ts on %s', (_name, ts, ok) => {
    const result = sut.normalize('click', { ...click, ts }, receivedAt);
    expect(result.ok).toBe(ok);
    if (!result.ok) expect(result.errors[0].field).toBe('ts');
  });

  it.each([
    [999_999_999_999.99, true],
    [1e12, false],
  ])('amount %d (numeric(16, 4) holds 12 integer digits)', (amount, ok) => {
    expect(sut.normalize('conversion', { ...conversion, amount }, receivedAt).ok).toBe(ok);
  });
});

/** The recorder trusts `idMinted` to skip the idempotency ledger: only the engine may set it. */
describe('EventNormalizer: engine-minted ids', () => {
  const sut = new EventNormalizer({ partitions: 4, maxFutureSkewMs: 300_000, geo: () => null });
  const receivedAt = new Date('2026-06-01T12:00:00Z');
  const click = { offerId: 'o', publisherId: 'p', ip: '203.0.113.7', userAgent: 'Mozilla/5.0' };

  it('marks a click whose id it minted, and not one whose id the sender chose', () => {
    const minted = sut.normalize('click', click, receivedAt);
    const chosen = sut.normalize('click', { ...click, id: 'partner-1' }, receivedAt);
    expect(minted.ok && minted.event.idMinted).toBe(true);
    expect(chosen.ok && chosen.event.idMinted).toBeUndefined();
  });

  it('refuses a sender that claims the engine minted its id', () => {
    const forged = sut.normalize('click', { ...click, id: 'c0.x', idMinted: true }, receivedAt);
    expect(forged.ok).toBe(false);
  });
});
