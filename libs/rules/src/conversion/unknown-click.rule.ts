import { ConversionRule, NoParams } from '../rule';

/** The click id was never seen (neither in the scorer's memory nor in the database). */
export const unknownClickRule: ConversionRule = {
  code: 'UNKNOWN_CLICK',
  on: 'conversion',
  params: NoParams,
  defaults: {},
  evaluate: ({ event, obs }) => (obs.click ? null : { clickId: event.clickId }),
};
