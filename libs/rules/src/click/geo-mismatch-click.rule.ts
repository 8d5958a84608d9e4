import { ClickRule, NoParams } from '../rule';

/** The click's IP country is outside the offer's allowed countries (when the offer restricts them). */
export const geoMismatchClickRule: ClickRule = {
  code: 'GEO_MISMATCH',
  on: 'click',
  params: NoParams,
  defaults: {},
  evaluate: ({ event, offer }) => {
    const allowed = offer?.allowedCountries ?? [];
    const country = event.ipCountry ?? event.country ?? null;
    if (!allowed.length || !country || allowed.includes(country)) return null;
    return { country, allowed: allowed.join(', ') };
  },
};
