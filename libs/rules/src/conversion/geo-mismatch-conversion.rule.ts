import type { Evidence } from '@app/contracts';
import { ConversionRule, NoParams } from '../rule';

/**
 * The conversion's country differs from its click's (a proxy or a different device took over),
 * or is outside the offer's allowed countries.
 */
export const geoMismatchConversionRule: ConversionRule = {
  code: 'GEO_MISMATCH',
  on: 'conversion',
  params: NoParams,
  defaults: {},
  evaluate: ({ event, obs, offer }): Evidence | null => {
    const country = event.ipCountry ?? event.country ?? null;
    if (!country) return null;
    const allowed = offer?.allowedCountries ?? [];
    if (allowed.length && !allowed.includes(country)) return { country, allowed: allowed.join(', ') };
    const clickCountry = obs.click?.country ?? null;
    if (clickCountry && clickCountry !== country) return { conversionCountry: country, clickCountry };
    return null;
  },
};
