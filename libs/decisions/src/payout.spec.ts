import { anOffer } from '@app/testing';
import { moneyOf, payoutOf } from './payout';

describe('payoutOf: the network computes the payout', () => {
  const offer = anOffer({ payout: 4.5 });
  it.each([
    ['an advertiser', { sender: 'advertiser' as const, amount: 80, payout: 999_999 }, 4.5],
    ['a pixel', { sender: 'pixel' as const, amount: 80, payout: 999_999 }, 4.5],
    ['the admin (backfill)', { sender: 'admin' as const, amount: 80, payout: 7 }, 7],
    ['a file (replayed by an admin)', { amount: 80, payout: 7 }, 7],
    ['anyone, stating none', { sender: 'advertiser' as const, amount: 80 }, 4.5],
  ])('from %s', (_name, e, expected) => {
    expect(payoutOf(e, offer)).toBe(expected);
  });
  it('is 0 without an offer', () => expect(payoutOf({ sender: 'advertiser', amount: 80 }, null)).toBe(0));
});

describe('moneyOf: revenue and payout from the network’s own terms', () => {
  const sale = { amount: 80, sender: 'advertiser' as const };
  it.each([
    ['fixed CPA revenue, fixed payout', anOffer({ revenueModel: 'fixed', revenue: 12, payoutModel: 'fixed', payout: 9 }), 12, 9],
    ['% of sale revenue, fixed payout', anOffer({ revenueModel: 'percent', revenue: 10, payoutModel: 'fixed', payout: 5 }), 8, 5],
    ['% of sale revenue and payout', anOffer({ revenueModel: 'percent', revenue: 10, payoutModel: 'percent', payout: 6.25 }), 8, 5],
  ])('%s', (_name, offer, revenue, payout) => {
    expect(moneyOf(sale, offer, 'pub-1')).toEqual({ revenue, payout });
  });

  it("pays a publisher its own terms on the offer, and the others the offer's", () => {
    const sut = anOffer({ payoutModel: 'fixed', payout: 5, publisherPayouts: { vip: { payoutModel: 'percent', payout: 15 } } });
    expect(moneyOf(sale, sut, 'vip').payout).toBe(12);
    expect(moneyOf(sale, sut, 'pub-1').payout).toBe(5);
    expect(moneyOf(sale, sut, null).payout).toBe(5);
  });

  it('never takes revenue from a sender, not even the admin', () => {
    const offer = anOffer({ revenueModel: 'fixed', revenue: 12 });
    expect(moneyOf({ amount: 80, sender: 'admin', payout: 3, revenue: 999 } as never, offer, null)).toEqual({ revenue: 12, payout: 3 });
  });

  it('rounds to the 4 decimals the database keeps', () => {
    const offer = anOffer({ revenueModel: 'percent', revenue: 33.3333, payoutModel: 'percent', payout: 12.5 });
    expect(moneyOf({ amount: 19.99, sender: 'advertiser' }, offer, null)).toEqual({ revenue: 6.6633, payout: 2.4988 });
  });

  it('is zero without an offer (no terms to bill or pay)', () => expect(moneyOf(sale, null, 'pub-1')).toEqual({ revenue: 0, payout: 0 }));
});
