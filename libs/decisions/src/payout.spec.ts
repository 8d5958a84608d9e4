import { anOffer } from '@app/testing';
import { payoutOf } from './payout';

describe('payoutOf: the network computes the payout', () => {
  const offer = anOffer({ payout: 4.5 });
  it.each([
    ['an advertiser', { sender: 'advertiser' as const, payout: 999_999 }, 4.5],
    ['a pixel', { sender: 'pixel' as const, payout: 999_999 }, 4.5],
    ['the admin (backfill)', { sender: 'admin' as const, payout: 7 }, 7],
    ['a file (replayed by an admin)', { payout: 7 }, 7],
    ['anyone, stating none', { sender: 'advertiser' as const }, 4.5],
  ])('from %s', (_name, e, expected) => {
    expect(payoutOf(e, offer)).toBe(expected);
  });
  it('is 0 without an offer', () => expect(payoutOf({ sender: 'advertiser' }, null)).toBe(0));
});
