import { ConversionRule, NoParams } from '../rule';

/** The click behind the conversion was judged invalid; its reason codes are carried as evidence. */
export const invalidSourceClickRule: ConversionRule = {
  code: 'INVALID_SOURCE_CLICK',
  on: 'conversion',
  params: NoParams,
  defaults: {},
  evaluate: ({ obs }) =>
    obs.click && !obs.click.valid ? { clickId: obs.click.id, clickReasons: obs.click.reasonCodes.join(', ') || 'unspecified' } : null,
};
