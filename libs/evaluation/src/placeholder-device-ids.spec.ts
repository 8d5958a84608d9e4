import type { ClickEvent, ClickVerdict } from '@app/contracts';
import { ScoringEngine } from '@app/decisions';
import { EventNormalizer } from '@app/ingest';
import { DEFAULT_RULESET } from '@app/rules';
import { FileCatalog } from './file-catalog';

/**
 * A phone whose user limited ad tracking (iOS App Tracking Transparency, Android's opt-out) reports
 * the all-zero advertising id, and a tracking link whose macro the publisher left unexpanded sends
 * the macro itself: thousands of unrelated people then share one "device id". The engine must read
 * those as no device id — counted as one device, every honest iPhone in an hour would be flagged
 * DEVICE_VELOCITY (10 clicks per hour by default) and rejected.
 */
describe('placeholder device ids', () => {
  const catalog = new FileCatalog();
  catalog.load({
    advertisers: [{ id: 'adv-1', name: 'Advertiser' }],
    offers: [{ id: 'off-1', name: 'Offer', advertiserId: 'adv-1' }],
    publishers: [{ id: 'pub-1', name: 'Publisher' }],
  });
  const iPhone =
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';
  const start = Date.parse('2026-11-02T10:00:00Z');

  /** 60 people on 60 residential addresses in one hour, all sending `deviceId`. */
  function score(deviceId: string): ClickVerdict[] {
    const normalizer = new EventNormalizer({ partitions: 1, maxFutureSkewMs: 0 });
    const engine = new ScoringEngine(DEFAULT_RULESET);
    return Array.from({ length: 60 }, (_, i) => {
      const at = new Date(start + i * 55_000);
      const n = normalizer.normalize(
        'click',
        { offerId: 'off-1', publisherId: 'pub-1', ip: `81.2.${i}.${10 + i}`, userAgent: iPhone, deviceId },
        at,
      );
      if (!n.ok) throw new Error(JSON.stringify(n.errors));
      return engine.scoreClick(n.event as ClickEvent, catalog, at.getTime());
    });
  }

  it.each([
    ['the all-zero IDFA', '00000000-0000-0000-0000-000000000000'],
    ['the all-zero GAID without dashes', '00000000000000000000000000000000'],
    ['an unexpanded {idfa} macro', '{idfa}'],
    ['an unexpanded {{device_id}} macro', '{{device_id}}'],
    ['an unexpanded ${IDFA} macro', '${IDFA}'],
    ['an unexpanded %%ADVERTISING_ID%% macro', '%%ADVERTISING_ID%%'],
    ['an unexpanded __IDFA__ macro', '__IDFA__'],
    ['a blank', '   '],
    ['"null"', 'null'],
  ])('%s is no device id: 60 people are not one device', (_name, deviceId) => {
    const flagged = score(deviceId).filter((v) => v.reasons.some((r) => r.code === 'DEVICE_VELOCITY'));
    expect(flagged).toHaveLength(0);
  });

  it('a real device id shared by 60 clicks in an hour is still one device', () => {
    const flagged = score('6d2f9a0e-5c1b-4f7e-9a3d-2b8c4e1f0a77').filter((v) => v.reasons.some((r) => r.code === 'DEVICE_VELOCITY'));
    expect(flagged.length).toBeGreaterThan(40);
  });
});
