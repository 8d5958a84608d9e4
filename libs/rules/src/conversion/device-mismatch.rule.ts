import { ConversionRule, NoParams } from '../rule';

/** A user agent without its version numbers: a browser update between click and sale is no mismatch. */
export function userAgentShape(ua: string): string {
  return ua
    .replace(/\d+([._]\d+)*/g, '#')
    .replace(/\s+/g, ' ')
    .trim()
    .toLowerCase();
}

/**
 * The conversion reports another device or browser than its click did (when both carry one):
 * a different machine completed the action the click is credited with.
 */
export const deviceMismatchRule: ConversionRule = {
  code: 'DEVICE_MISMATCH',
  on: 'conversion',
  params: NoParams,
  defaults: {},
  evaluate: ({ event, obs }) => {
    const click = obs.click;
    if (!click) return null;
    if (event.deviceId && click.deviceId && event.deviceId !== click.deviceId) return { field: 'device id' };
    if (event.userAgent && click.userAgent && userAgentShape(event.userAgent) !== userAgentShape(click.userAgent))
      return { field: 'browser' };
    return null;
  },
};
