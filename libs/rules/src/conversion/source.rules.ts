import type { Evidence } from '@app/contracts';
import { ConversionRule, NoParams } from '../rule';

/**
 * The conversion names an offer other than its click's, or an advertiser's key or token reports a
 * conversion on a click of another advertiser's offer (DESIGN §3a: nobody converts on someone
 * else's offer). The decision stays with the click's offer.
 */
export const offerMismatchRule: ConversionRule = {
  code: 'OFFER_MISMATCH',
  on: 'conversion',
  params: NoParams,
  defaults: {},
  evaluate: ({ event, obs, offer }): Evidence | null => {
    const clickOfferId = obs.click?.offerId ?? null;
    if (event.offerId !== undefined && clickOfferId !== null && event.offerId !== clickOfferId) {
      return { clickOfferId, offerId: event.offerId, senderId: event.senderId ?? null };
    }
    if (event.sender === 'advertiser' && offer && offer.advertiserId !== event.senderId) {
      return { clickOfferId: offer.id, senderId: event.senderId ?? null };
    }
    return null;
  },
};

/** The conversion came through an open pixel: nobody authenticated it. */
export const unverifiedSourceRule: ConversionRule = {
  code: 'UNVERIFIED_SOURCE',
  on: 'conversion',
  params: NoParams,
  defaults: {},
  evaluate: ({ event, offer }) => (event.sender === 'pixel' ? { sender: 'pixel', offerId: offer?.id ?? event.offerId ?? null } : null),
};
