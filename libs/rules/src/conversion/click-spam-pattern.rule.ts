import { Type } from '@sinclair/typebox';
import { ConversionRule } from '../rule';

export interface ClickSpamParams {
  maxLateShare: number;
  minConversions: number;
}

/**
 * Click spamming: a publisher fires clicks for users who never saw an ad, to be the "last click"
 * when they later convert on their own. Its conversions then arrive long after the clicks — a flat,
 * long-tailed CTIT distribution. DESIGN §4: more than 30 % after 24 h, over at least 50 conversions.
 */
export const clickSpamPatternRule: ConversionRule<ClickSpamParams> = {
  code: 'CLICK_SPAM_PATTERN',
  on: 'conversion',
  params: Type.Object(
    { maxLateShare: Type.Number({ minimum: 0, maximum: 1 }), minConversions: Type.Integer({ minimum: 1 }) },
    { additionalProperties: false },
  ),
  defaults: { maxLateShare: 0.3, minConversions: 50 },
  evaluate: ({ obs }, p) => {
    const w = obs.publisher;
    if (!w || w.conversions < p.minConversions) return null;
    const lateShare = w.lateConversions / w.conversions;
    return lateShare > p.maxLateShare
      ? { lateShare: Math.round(lateShare * 1000) / 1000, conversions: w.conversions, lateHours: 24, maxLateShare: p.maxLateShare }
      : null;
  },
};
