import { Type } from '@sinclair/typebox';
import { ConversionRule } from '../rule';

export interface ConversionVelocityParams {
  perIpPerDay: number;
  perDevicePerDay: number;
}

/**
 * Conversions per IP or device over a day. Per-IP limits stay loose because mobile carriers put
 * many people behind one address; a device converting again and again is the stronger signal.
 */
export const conversionVelocityRule: ConversionRule<ConversionVelocityParams> = {
  code: 'CONVERSION_VELOCITY',
  on: 'conversion',
  params: Type.Object(
    { perIpPerDay: Type.Integer({ minimum: 1 }), perDevicePerDay: Type.Integer({ minimum: 1 }) },
    { additionalProperties: false },
  ),
  defaults: { perIpPerDay: 10, perDevicePerDay: 3 },
  evaluate: ({ event, obs, lists }, p) => {
    if (obs.deviceConversions !== null && obs.deviceConversions > p.perDevicePerDay) {
      return { key: 'device', count: obs.deviceConversions, limit: p.perDevicePerDay };
    }
    const ip = event.ip ?? obs.click?.ip;
    if (obs.ipConversions !== null && obs.ipConversions > p.perIpPerDay && !(ip && lists.allowIps.match(ip))) {
      return { key: 'IP address', count: obs.ipConversions, limit: p.perIpPerDay };
    }
    return null;
  },
};
