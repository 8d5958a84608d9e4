import type { Evidence } from '@app/contracts';
import { ConversionRule, NoParams } from '../rule';

/**
 * The advertiser already credited this order id, or the click has already converted as many
 * times as the offer allows (default once).
 */
export const duplicateConversionRule: ConversionRule = {
  code: 'DUPLICATE_CONVERSION',
  on: 'conversion',
  params: NoParams,
  defaults: {},
  evaluate: ({ event, obs, offer }): Evidence | null => {
    if (obs.duplicateOrderOf) return { orderId: event.orderId ?? null, firstConversionId: obs.duplicateOrderOf };
    const allowed = offer?.maxConversionsPerClick ?? 1;
    if (obs.click && obs.click.conversions >= allowed) return { previousConversions: obs.click.conversions, allowed };
    return null;
  },
};
