import type { ConversionEvent, MoneyModel, Offer } from '@app/contracts';

/** The network's two figures for one conversion, beside the sale amount the advertiser reported. */
export interface ConversionMoney {
  /** What the advertiser owes the network. */
  revenue: number;
  /** What the network owes the publisher. */
  payout: number;
}

// The database keeps 4 decimals (numeric(16, 4)): round once here (half up, after dropping the
// binary noise of 19.99 × 12.5 %) so the event, the row and every sum agree.
const round4 = (x: number) => Math.round(Number((x * 10_000).toPrecision(12))) / 10_000;

/** A fixed amount, or a percentage of the sale. */
export function applyModel(model: MoneyModel, value: number, saleAmount: number): number {
  return round4(model === 'percent' ? (saleAmount * value) / 100 : value);
}

/**
 * Revenue and payout of a conversion: the network's to compute (DESIGN §3a, §7), never an
 * advertiser's or a pixel's. Revenue from the offer's revenue model; payout from the publisher's
 * own terms on the offer, else the offer's payout model. Only the admin (backfill, corrections)
 * and files (which only an admin replays) may state a payout.
 */
export function moneyOf(
  e: Pick<ConversionEvent, 'amount' | 'payout' | 'sender'>,
  offer: Offer | null,
  publisherId: string | null,
): ConversionMoney {
  const asserted = e.sender === undefined || e.sender === 'admin' ? e.payout : undefined;
  if (!offer) return { revenue: 0, payout: asserted ?? 0 };
  const revenue = applyModel(offer.revenueModel, offer.revenue, e.amount);
  if (asserted !== undefined) return { revenue, payout: asserted };
  const own = publisherId ? offer.publisherPayouts[publisherId] : undefined;
  return {
    revenue,
    payout: own ? applyModel(own.payoutModel, own.payout, e.amount) : applyModel(offer.payoutModel, offer.payout, e.amount),
  };
}

/** What the network owes the publisher for a conversion (see {@link moneyOf}). */
export function payoutOf(
  e: Pick<ConversionEvent, 'amount' | 'payout' | 'sender'>,
  offer: Offer | null,
  publisherId: string | null = null,
): number {
  return moneyOf(e, offer, publisherId).payout;
}
