import type { ConversionEvent, Evidence, Offer } from '@app/contracts';
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
  evaluate: ({ event, obs, offer }): Evidence | null => foreignOffer(event, obs.click?.offerId ?? null, offer),
};

/**
 * Why the conversion is not its click's offer's to report (OFFER_MISMATCH's evidence), or null. The
 * scoring engine asks it too, whatever the rule's mode: such a conversion never uses up its click nor
 * its order id, so a monitored OFFER_MISMATCH cannot become a way to burn another advertiser's clicks.
 */
export function foreignOffer(
  event: Pick<ConversionEvent, 'offerId' | 'sender' | 'senderId'>,
  clickOfferId: string | null,
  offer: Offer | null,
): Evidence | null {
  if (event.offerId !== undefined && clickOfferId !== null && event.offerId !== clickOfferId) {
    return { clickOfferId, offerId: event.offerId, senderId: event.senderId ?? null };
  }
  if (event.sender === 'advertiser' && offer && offer.advertiserId !== event.senderId) {
    return { clickOfferId: offer.id, senderId: event.senderId ?? null };
  }
  return null;
}

/**
 * The conversion came through an open pixel: nobody authenticated it. When the payout the click's
 * publisher gets is a percentage of the sale, the amount the pixel stated would set what the network
 * pays out: the evidence says so (`amountSetsPayout`), and such a conversion is held until its
 * advertiser or an analyst confirms it (`mustBeConfirmed`). (A revenue that is a share of the amount is
 * the advertiser's own bill, from the page it put the pixel on: it pays nobody.)
 */
export const unverifiedSourceRule: ConversionRule = {
  code: 'UNVERIFIED_SOURCE',
  on: 'conversion',
  params: NoParams,
  defaults: {},
  evaluate: ({ event, obs, offer }) => {
    if (event.sender !== 'pixel') return null;
    const evidence = { sender: 'pixel', offerId: offer?.id ?? event.offerId ?? null };
    return amountSetsPayout(offer, obs.click?.publisherId ?? null) ? { ...evidence, amountSetsPayout: true } : evidence;
  },
};

/** Whether the payout of a conversion on this offer (for this publisher) is a percentage of its sale amount. */
export function amountSetsPayout(offer: Offer | null, publisherId: string | null): boolean {
  if (!offer) return false;
  const own = publisherId ? offer.publisherPayouts[publisherId] : undefined;
  return (own ? own.payoutModel : offer.payoutModel) === 'percent';
}
