import type { AdvertiserInput, OfferInput, PublisherInput } from '@app/contracts';
import { Random } from './random';

export type ConversionType = 'sale' | 'lead' | 'install';

/** An offer as the simulator drives it: the catalog entry plus how its real users behave. */
export interface SimOffer extends OfferInput {
  type: ConversionType;
  /** Conversion rate of honest clicks. */
  conversionRate: number;
  /** Median order value (sales) or fixed value (leads, installs). */
  amount: number;
  /** Where its honest traffic comes from: the allowed countries, or a worldwide mix. */
  trafficCountries: string[];
}

export interface SimPublisher extends PublisherInput {
  subIds: string[];
  /** Share of honest traffic it sends. */
  weight: number;
  site: string;
}

export interface SimCatalog {
  advertisers: AdvertiserInput[];
  /** The live offers: every pattern's traffic picks among these. */
  offers: SimOffer[];
  publishers: SimPublisher[];
  /** Offers the network paused: still in the catalog, reached only through stale links. */
  paused: SimOffer[];
}

/** Countries with real traffic in the simulation, weighted roughly by affiliate volume. */
export const COUNTRIES = ['US', 'GB', 'DE', 'FR', 'CA', 'ES', 'IT', 'NL', 'BR', 'MX', 'IN', 'AU', 'PL', 'SE', 'JP'];
const COUNTRY_WEIGHTS = [30, 9, 8, 6, 5, 4, 4, 3, 6, 4, 8, 3, 3, 2, 5];

export function worldCountry(rng: Random): string {
  return rng.weighted(COUNTRIES, COUNTRY_WEIGHTS);
}

const VERTICALS = [
  { name: 'Fashion store', type: 'sale', cr: [0.02, 0.045], amount: [45, 90], payout: [0.08, 0.12] },
  { name: 'Electronics shop', type: 'sale', cr: [0.01, 0.025], amount: [120, 400], payout: [0.03, 0.06] },
  { name: 'Insurance quote', type: 'lead', cr: [0.04, 0.08], amount: [30, 60], payout: [0.5, 0.7] },
  { name: 'Language course trial', type: 'lead', cr: [0.05, 0.1], amount: [15, 25], payout: [0.5, 0.6] },
  { name: 'Mobile game', type: 'install', cr: [0.03, 0.07], amount: [3, 6], payout: [0.6, 0.8] },
  { name: 'Finance app', type: 'install', cr: [0.015, 0.04], amount: [8, 20], payout: [0.5, 0.7] },
] as const;

/**
 * A network: a handful of advertisers with offers of every kind (sales, leads, app installs; some
 * restricted to a few countries) and a few dozen publishers. Honest publishers get most of the
 * traffic; the last ones are the ones the fraud patterns use.
 */
export function generateCatalog(rng: Random, sizes = { advertisers: 8, offers: 24, publishers: 40 }): SimCatalog {
  const advertisers = Array.from({ length: sizes.advertisers }, (_, i) => ({ id: `adv-${pad(i + 1)}`, name: `Advertiser ${i + 1}` }));
  const offers: SimOffer[] = Array.from({ length: sizes.offers }, (_, i) => {
    const v = VERTICALS[i % VERTICALS.length];
    const restricted = rng.chance(0.5);
    const allowed = restricted ? pickDistinct(rng, COUNTRIES.slice(0, 8), rng.int(1, 3)) : [];
    const amount = Math.round(rng.uniform(v.amount[0], v.amount[1]) * 100) / 100;
    const payout = Math.round(amount * rng.uniform(v.payout[0], v.payout[1]) * 100) / 100;
    return {
      id: `off-${pad(i + 1)}`,
      advertiserId: advertisers[i % advertisers.length].id,
      name: `${v.name} ${Math.floor(i / VERTICALS.length) + 1}`,
      url: `https://adv${(i % advertisers.length) + 1}.example/landing/${i + 1}?click_id={click_id}`,
      // What the advertiser pays the network, about a quarter above the publisher's payout: a share
      // of the sale for shops, a fixed CPA for leads and installs. No random draw, so the traffic a
      // seed generates is the same as before offers had revenue terms.
      ...(v.type === 'sale'
        ? { revenueModel: 'percent' as const, revenue: Math.round((payout / amount) * 12_500) / 100 }
        : { revenueModel: 'fixed' as const, revenue: Math.round(payout * 125) / 100 }),
      payout,
      currency: 'USD',
      allowedCountries: allowed,
      type: v.type,
      conversionRate: rng.uniform(v.cr[0], v.cr[1]),
      amount,
      trafficCountries: allowed.length ? allowed : [],
    };
  });
  const publishers: SimPublisher[] = Array.from({ length: sizes.publishers }, (_, i) => ({
    id: `pub-${pad(i + 1)}`,
    name: `Publisher ${i + 1}`,
    subIds: Array.from({ length: rng.int(2, 8) }, (_, j) => `s${j + 1}`),
    weight: rng.logNormal(1, 0.8),
    site: `https://site${i + 1}.example/`,
  }));
  return { advertisers, offers, publishers, paused: [] };
}

function pickDistinct<T>(rng: Random, items: readonly T[], n: number): T[] {
  const pool = [...items];
  const out: T[] = [];
  while (out.length < n && pool.length) out.push(pool.splice(rng.int(0, pool.length - 1), 1)[0]);
  return out;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}
