import { Type } from '@sinclair/typebox';
import { ClickRule } from '../rule';

export interface DeviceVelocityParams {
  perHour: number;
  perDay: number;
}

/** Clicks per device id: a phone in a device farm clicks far more ads than a person does. */
export const deviceVelocityRule: ClickRule<DeviceVelocityParams> = {
  code: 'DEVICE_VELOCITY',
  on: 'click',
  params: Type.Object({ perHour: Type.Integer({ minimum: 1 }), perDay: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }),
  defaults: { perHour: 10, perDay: 30 },
  evaluate: ({ obs }, p) => {
    const c = obs.deviceClicks;
    if (!c) return null;
    if (c.hour > p.perHour) return { window: 'hour', count: c.hour, limit: p.perHour };
    if (c.day > p.perDay) return { window: '24 hours', count: c.day, limit: p.perDay };
    return null;
  },
};
