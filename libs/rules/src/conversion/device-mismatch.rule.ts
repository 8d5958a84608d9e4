import { memoize } from '@app/features';
import { ConversionRule, NoParams } from '../rule';

/**
 * A user agent without its version numbers: a browser update between click and sale is no mismatch.
 * Memoised (10,000 user agents, 2 M characters of them: conversions are a few per cent of events):
 * each conversion asks for four shapes, each four string passes, about 4 KB of garbage.
 */
export const userAgentShape: (ua: string) => string = memoize(
  (ua) =>
    ua
      .replace(/\d+([._]\d+)*/g, '#')
      .replace(/\s+/g, ' ')
      .trim()
      .toLowerCase(),
  10_000,
  2_000_000,
);

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
