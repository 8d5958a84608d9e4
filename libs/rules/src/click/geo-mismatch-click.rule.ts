import type { Evidence } from '@app/contracts';
import { ClickRule, NoParams } from '../rule';

/**
 * The click's IP country is outside the offer's allowed countries (when the offer restricts
 * them), or the country the tracker declared (device locale, headers) is not where the IP is: a
 * proxy or VPN in front of a visitor from elsewhere.
 */
export const geoMismatchClickRule: ClickRule = {
  code: 'GEO_MISMATCH',
  on: 'click',
  params: NoParams,
  defaults: {},
  evaluate: ({ event, offer }): Evidence | null => {
    const allowed = offer?.allowedCountries ?? [];
    const country = event.ipCountry ?? event.country ?? null;
    if (allowed.length && country && !allowed.includes(country)) return { country, allowed: allowed.join(', ') };
    if (event.country && event.ipCountry && event.country !== event.ipCountry)
      return { declaredCountry: event.country, ipCountry: event.ipCountry };
    return null;
  },
};
