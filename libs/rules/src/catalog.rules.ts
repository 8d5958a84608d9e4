import { ClickFacts, ConversionFacts, NoParams, Rule } from './rule';

type Facts = ClickFacts | ConversionFacts;

/** The offer is not in the catalog. For a conversion, the offer is its own or its click's. */
export const unknownOfferRule = <F extends Facts>(on: 'click' | 'conversion'): Rule<F> => ({
  code: 'UNKNOWN_OFFER',
  on,
  params: NoParams,
  defaults: {},
  evaluate: (f) => {
    const offerId = f.event.offerId ?? ('obs' in f && 'click' in f.obs ? f.obs.click?.offerId : undefined);
    return offerId !== undefined && !f.offer ? { offerId } : null;
  },
});

/** The publisher is not in the catalog, or is suspended. */
export const unknownPublisherRule = <F extends Facts>(on: 'click' | 'conversion'): Rule<F> => ({
  code: 'UNKNOWN_PUBLISHER',
  on,
  params: NoParams,
  defaults: {},
  evaluate: (f) => {
    const publisherId = 'publisherId' in f.event ? f.event.publisherId : 'click' in f.obs ? f.obs.click?.publisherId : undefined;
    if (publisherId === undefined) return null;
    if (!f.publisher) return { publisherId, status: 'missing' };
    return f.publisher.status === 'active' ? null : { publisherId, status: f.publisher.status };
  },
});

/** The offer exists but is paused. */
export const inactiveOfferRule = <F extends Facts>(on: 'click' | 'conversion'): Rule<F> => ({
  code: 'INACTIVE_OFFER',
  on,
  params: NoParams,
  defaults: {},
  evaluate: (f) => (f.offer && f.offer.status !== 'active' ? { offerId: f.offer.id, status: f.offer.status } : null),
});
