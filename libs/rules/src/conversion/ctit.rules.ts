import { Type } from '@sinclair/typebox';
import { ConversionRule } from '../rule';

export interface CtitTooShortParams {
  /** Minimum click-to-conversion seconds per conversion type; `default` for the others. */
  minSeconds: Record<string, number>;
}

export interface CtitTooLongParams {
  windowDays: number;
}

/**
 * Click injection: the click is fired at the moment the conversion is about to happen, so the
 * click-to-install/conversion time (CTIT) is implausibly short. Defaults from DESIGN §4 (15 s for
 * a sale, 10 s for an install), in line with what mobile attribution vendors use.
 */
export const ctitTooShortRule: ConversionRule<CtitTooShortParams> = {
  code: 'CTIT_TOO_SHORT',
  on: 'conversion',
  params: Type.Object(
    { minSeconds: Type.Record(Type.String({ pattern: '^[a-z][a-z0-9_]{0,31}$' }), Type.Number({ minimum: 0 })) },
    { additionalProperties: false },
  ),
  defaults: { minSeconds: { default: 15, sale: 15, install: 10, lead: 10 } },
  evaluate: ({ obs, type }, p) => {
    if (obs.ctitSeconds === null) return null;
    const min = p.minSeconds[type] ?? p.minSeconds.default ?? 15;
    return obs.ctitSeconds < min ? { type, ctitSeconds: Math.round(obs.ctitSeconds * 10) / 10, minSeconds: min } : null;
  },
};

/** The conversion arrived after the attribution window closed (default 30 days). */
export const ctitTooLongRule: ConversionRule<CtitTooLongParams> = {
  code: 'CTIT_TOO_LONG',
  on: 'conversion',
  params: Type.Object({ windowDays: Type.Number({ minimum: 0.01, maximum: 365 }) }, { additionalProperties: false }),
  defaults: { windowDays: 30 },
  evaluate: ({ obs }, p) => {
    if (obs.ctitSeconds === null) return null;
    const days = obs.ctitSeconds / 86_400;
    return days > p.windowDays ? { ctitDays: Math.round(days * 10) / 10, windowDays: p.windowDays } : null;
  },
};
