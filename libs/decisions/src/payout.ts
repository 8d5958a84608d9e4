import type { ConversionEvent, Offer } from '@app/contracts';

/**
 * What the network owes the publisher for a conversion: the network's to compute (DESIGN §3a, §7),
 * never an advertiser's or a pixel's. Only the admin (backfill, corrections) and files (which only
 * an admin replays) may state it. Today the offer's fixed payout; revenue models (% of sale) and
 * publisher-specific payouts extend this one function.
 */
export function payoutOf(e: Pick<ConversionEvent, 'payout' | 'sender'>, offer: Offer | null): number {
  const asserted = e.sender === undefined || e.sender === 'admin' ? e.payout : undefined;
  return asserted ?? offer?.payout ?? 0;
}
