import type { ClickInput, ConversionInput, FeedbackInput, Label } from '@app/contracts';
import type { SimCatalog } from './catalog';

/** One line of a simulator file: a labelled event in the DESIGN §3 contract. */
/** One line of a simulator file; `label` is absent during the warm-up hours. */
export type SimClick = ClickInput & { kind: 'click'; id: string; ts: string; label?: Label; pattern: string };
export type SimConversion = ConversionInput & { kind: 'conversion'; id: string; ts: string; label?: Label; pattern: string };
export type SimFeedback = FeedbackInput & { kind: 'feedback'; id: string; ts: string };
export type SimEvent = SimClick | SimConversion | SimFeedback;

/** The first line of a simulator file: the network the traffic belongs to. */
export type CatalogLine = {
  kind: 'catalog';
  advertisers: SimCatalog['advertisers'];
  offers: Omit<SimCatalog['offers'][number], 'type' | 'conversionRate' | 'amount' | 'trafficCountries'>[];
  publishers: Omit<SimCatalog['publishers'][number], 'subIds' | 'weight' | 'site'>[];
};

export function catalogLine(catalog: SimCatalog): CatalogLine {
  return {
    kind: 'catalog',
    advertisers: catalog.advertisers,
    offers: [...catalog.offers, ...catalog.paused].map(
      ({ type: _t, conversionRate: _c, amount: _a, trafficCountries: _tc, ...offer }) => offer,
    ),
    publishers: catalog.publishers.map(({ subIds: _s, weight: _w, site: _site, ...publisher }) => publisher),
  };
}
