import { Type } from '@sinclair/typebox';
import type { PublisherWindow } from '@app/features';
import { ConversionRule } from '../rule';
import { wilson } from '../statistics';

export interface PublisherCrParams {
  low: number;
  high: number;
  minClicks: number;
}

/**
 * The sub-id's (else the publisher's) conversion rate over the last week is outside the band
 * [low, high] (DESIGN §4: 0.5–20 %, at least 100 clicks). "Outside" means the 95 % Wilson interval
 * lies wholly outside, so a young publisher with 100 clicks and no sale yet is not flagged while
 * click spammers (far below) and incentivised sub-ids (far above) are.
 */
export const publisherCrAnomalyRule: ConversionRule<PublisherCrParams> = {
  code: 'PUBLISHER_CR_ANOMALY',
  on: 'conversion',
  params: Type.Object(
    {
      low: Type.Number({ minimum: 0, maximum: 1 }),
      high: Type.Number({ minimum: 0, maximum: 1 }),
      minClicks: Type.Integer({ minimum: 1 }),
    },
    { additionalProperties: false },
  ),
  defaults: { low: 0.005, high: 0.2, minClicks: 100 },
  evaluate: ({ obs }, p) => {
    const click = obs.click;
    if (!click) return null;
    const scopes: [string, PublisherWindow | null][] = [
      [`sub-id "${click.subId}" of publisher "${click.publisherId}"`, obs.subId],
      [`publisher "${click.publisherId}"`, obs.publisher],
    ];
    for (const [scope, window] of scopes) {
      if (!window || window.clicks < p.minClicks) continue;
      const conversions = Math.min(window.conversions, window.clicks);
      const ci = wilson(conversions, window.clicks);
      if (ci.high < p.low || ci.low > p.high) {
        return {
          scope,
          window: '7 days',
          clicks: window.clicks,
          conversions,
          conversionRate: round(conversions / window.clicks),
          low: p.low,
          high: p.high,
        };
      }
    }
    return null;
  },
};

const round = (x: number) => Math.round(x * 10_000) / 10_000;
