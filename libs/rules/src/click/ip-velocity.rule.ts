import { Type } from '@sinclair/typebox';
import { ClickRule } from '../rule';

export interface IpVelocityParams {
  perMinute: number;
  perHour: number;
  perDay: number;
}

/**
 * Clicks per IP over sliding windows. Defaults follow DESIGN §4 (20 / min, 200 / h); the daily
 * limit catches slow, steady flooding that stays under both. Carrier-grade NAT puts many people
 * behind one mobile IP, hence limits well above what one person clicks.
 */
export const ipVelocityRule: ClickRule<IpVelocityParams> = {
  code: 'IP_VELOCITY',
  on: 'click',
  params: Type.Object(
    {
      perMinute: Type.Integer({ minimum: 1 }),
      perHour: Type.Integer({ minimum: 1 }),
      perDay: Type.Integer({ minimum: 1 }),
    },
    { additionalProperties: false },
  ),
  defaults: { perMinute: 20, perHour: 200, perDay: 1000 },
  evaluate: ({ obs }, p) => {
    const c = obs.ipClicks;
    if (c.minute > p.perMinute) return { window: 'minute', count: c.minute, limit: p.perMinute };
    if (c.hour > p.perHour) return { window: 'hour', count: c.hour, limit: p.perHour };
    if (c.day > p.perDay) return { window: '24 hours', count: c.day, limit: p.perDay };
    return null;
  },
};
