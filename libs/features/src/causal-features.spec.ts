import type { ClickEvent, ConversionEvent } from '@app/contracts';
import { CHROME_UA, IPHONE_UA, aClick, aConversion, anOffer, at } from '@app/testing';
import { ClickRecord, FeatureState } from './feature-state';
import { CLICK_FEATURES, CONVERSION_FEATURES, clickFeatures, conversionFeatures } from './feature-vector';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

type ClickName = (typeof CLICK_FEATURES)[number];
type ConversionName = (typeof CONVERSION_FEATURES)[number];

/** A feature state fed like the scoring engine feeds it: clicks remembered, conversions credited. */
function stream() {
  const sut = new FeatureState();
  const click = (overrides: Partial<ClickEvent>) => {
    const e = aClick(overrides);
    const obs = sut.observeClick(e);
    sut.rememberClick(recordOf(e));
    const x = clickFeatures({ event: e, obs, offer: anOffer(), datacenter: false, rulesRisk: 0 }, new Float64Array(CLICK_FEATURES.length));
    return { e, obs, feature: (name: ClickName) => x[CLICK_FEATURES.indexOf(name)] };
  };
  const conversion = (c: ConversionEvent) => {
    const obs = sut.observeConversion(c, 'adv-1', null);
    sut.creditConversion(c, 'adv-1', obs.click);
    const x = conversionFeatures(
      { event: c, obs, payout: 5, browserDiffers: false, rulesRisk: 0 },
      new Float64Array(CONVERSION_FEATURES.length),
    );
    return { obs, feature: (name: ConversionName) => x[CONVERSION_FEATURES.indexOf(name)] };
  };
  return { sut, click, conversion };
}

function recordOf(e: ClickEvent): ClickRecord {
  return {
    id: e.id,
    t: Date.parse(e.ts),
    offerId: e.offerId,
    publisherId: e.publisherId,
    subId: e.subId ?? null,
    ip: e.ip,
    userAgent: e.userAgent,
    deviceId: e.deviceId ?? null,
    country: 'US',
    declaredCountry: null,
    valid: true,
    risk: 0,
    probability: null,
    referrer: false,
    reasonCodes: [],
    conversions: 0,
  };
}

describe('causal features: distinct counts so far', () => {
  it('counts the distinct devices, visitors and click ids an IP has shown so far', () => {
    const { click } = stream();
    click({ ip: '81.2.69.1', deviceId: 'dev-a', ts: at(0) });
    click({ ip: '81.2.69.1', deviceId: 'dev-a', ts: at(MINUTE) });
    click({ ip: '81.2.69.1', deviceId: 'dev-b', ts: at(2 * MINUTE) });
    const last = click({ ip: '81.2.69.1', userAgent: IPHONE_UA, ts: at(2 * DAY) });
    expect(last.obs.ipHistory).toMatchObject({ distinctDevices: 2, distinctVisitors: 3, distinctClicks: 4 });
    expect(last.feature('ip_distinct_devices_so_far')).toBeCloseTo(Math.log1p(2));
    expect(last.feature('ip_distinct_clicks_so_far')).toBeCloseTo(Math.log1p(4));
    // Another IP's history is its own.
    expect(click({ ip: '81.2.69.2', ts: at(2 * DAY) }).obs.ipHistory).toMatchObject({
      distinctDevices: 0,
      distinctVisitors: 1,
      distinctClicks: 1,
    });
  });

  it('counts a click id once however often it is observed (a redelivered click)', () => {
    const { click } = stream();
    click({ id: 'clk-same', ip: '81.2.69.3', deviceId: 'dev-r', ts: at(0) });
    const again = click({ id: 'clk-same', ip: '81.2.69.3', deviceId: 'dev-r', ts: at(0) });
    expect(again.obs.ipHistory.distinctClicks).toBe(1);
    expect(again.obs.deviceHistory?.distinctClicks).toBe(1);
  });

  it('counts the distinct IPs, user agents and click ids a device has shown so far; none without a device id', () => {
    const { click } = stream();
    for (let i = 0; i < 4; i++) click({ ip: `81.2.70.${i + 1}`, deviceId: 'dev-hopper', ts: at(i * HOUR) });
    const last = click({ ip: '81.2.70.1', deviceId: 'dev-hopper', userAgent: IPHONE_UA, ts: at(3 * DAY) });
    expect(last.obs.deviceHistory).toMatchObject({ distinctIps: 4, distinctUserAgents: 2, distinctClicks: 5 });
    expect(last.feature('device_distinct_ips_so_far')).toBeCloseTo(Math.log1p(4));
    const none = click({ ip: '81.2.70.9', ts: at(3 * DAY) });
    expect(none.obs.deviceHistory).toBeNull();
    expect(none.feature('device_distinct_ips_so_far')).toBe(0);
  });
});

describe('causal features: first-seen age', () => {
  it('is the time since the IP and the device were first seen, capped at a day', () => {
    const { click } = stream();
    expect(click({ ip: '81.2.71.1', deviceId: 'dev-age', ts: at(0) }).feature('ip_age_log_seconds')).toBe(0);
    const later = click({ ip: '81.2.71.1', deviceId: 'dev-age', ts: at(3 * HOUR) });
    expect(later.obs.ipHistory.ageSeconds).toBe(3 * 3600);
    expect(later.feature('ip_age_log_seconds')).toBeCloseTo(Math.log1p(3 * 3600));
    expect(later.feature('device_age_log_seconds')).toBeCloseTo(Math.log1p(3 * 3600));
    const old = click({ ip: '81.2.71.1', ts: at(5 * DAY) });
    expect(old.obs.ipHistory.ageSeconds).toBe(5 * 86_400);
    expect(old.feature('ip_age_log_seconds')).toBeCloseTo(Math.log1p(86_400));
  });
});

describe('causal features: time since the previous click', () => {
  it('of the same IP and user agent, within the hour', () => {
    const { click } = stream();
    click({ ip: '81.2.72.1', ts: at(0) });
    expect(click({ ip: '81.2.72.1', ts: at(90 * SECOND) }).obs.secondsSinceIpUserAgentPrevious).toBe(90);
    expect(click({ ip: '81.2.72.1', userAgent: IPHONE_UA, ts: at(100 * SECOND) }).obs.secondsSinceIpUserAgentPrevious).toBeNull();
    const late = click({ ip: '81.2.72.1', userAgent: CHROME_UA, ts: at(2 * HOUR) });
    expect(late.obs.secondsSinceIpUserAgentPrevious).toBeNull();
    // "Not within the horizon" reads as a day: later than anything observed.
    expect(late.feature('seconds_since_ip_ua_previous')).toBeCloseTo(Math.log1p(86_400));
  });

  it('of the same IP and offer, and of the same IP and device, within the day', () => {
    const { click } = stream();
    click({ ip: '81.2.73.1', offerId: 'offer-1', deviceId: 'dev-x', ts: at(0) });
    const next = click({ ip: '81.2.73.1', offerId: 'offer-1', deviceId: 'dev-x', userAgent: IPHONE_UA, ts: at(2 * HOUR) });
    expect(next.obs.secondsSinceIpOfferPrevious).toBe(7200);
    expect(next.obs.secondsSinceIpDevicePrevious).toBe(7200);
    expect(next.feature('seconds_since_ip_offer_previous')).toBeCloseTo(Math.log1p(7200));
    const other = click({ ip: '81.2.73.1', offerId: 'offer-2', deviceId: 'dev-y', ts: at(2 * HOUR + 5 * SECOND) });
    expect(other.obs.secondsSinceIpOfferPrevious).toBeNull();
    expect(other.obs.secondsSinceIpDevicePrevious).toBeNull();
    expect(click({ ip: '81.2.73.1', offerId: 'offer-1', ts: at(2 * DAY) }).obs.secondsSinceIpOfferPrevious).toBeNull();
  });
});

describe('causal features: offer × source conversion rate over the last day', () => {
  /** `clicks` clicks of offer-1 through publisher `publisherId` (sub-id s1), one in `every` converting, starting at `start`. */
  function traffic(s: ReturnType<typeof stream>, publisherId: string, clicks: number, every: number, start: number) {
    for (let i = 0; i < clicks; i++) {
      const c = s.click({ publisherId, subId: 's1', ip: `82.${i % 200}.1.${1 + (i % 250)}`, ts: at(start + i * 10 * SECOND) });
      if (every > 0 && i % every === 0) s.conversion(aConversion(c.e, { ts: at(start + i * 10 * SECOND + MINUTE) }));
    }
  }

  it('is unknown (0, like the offer) under 100 clicks of the pair', () => {
    const s = stream();
    traffic(s, 'pub-good', 400, 10, 0);
    const fresh = s.click({ publisherId: 'pub-new', subId: 's9', ts: at(4001 * 10 * SECOND) });
    expect(fresh.feature('offer_publisher_known')).toBe(0);
    expect(fresh.feature('offer_publisher_cr_vs_offer_24h')).toBe(0);
    expect(fresh.feature('offer_sub_id_known')).toBe(0);
    expect(fresh.feature('offer_sub_id_cr_vs_offer_24h')).toBe(0);
  });

  it('compares a source that never converts with the offer, and forgets what is older than a day', () => {
    const s = stream();
    traffic(s, 'pub-good', 400, 10, 0);
    traffic(s, 'pub-spam', 200, 0, 0);
    const spam = s.click({ publisherId: 'pub-spam', subId: 's1', ts: at(4000 * 10 * SECOND) });
    expect(spam.feature('offer_publisher_known')).toBe(1);
    expect(spam.feature('offer_publisher_cr_vs_offer_24h')).toBeLessThan(-2);
    expect(spam.feature('offer_sub_id_known')).toBe(1);
    expect(spam.feature('offer_sub_id_cr_vs_offer_24h')).toBeLessThan(-2);
    const good = s.click({ publisherId: 'pub-good', subId: 's1', ts: at(4000 * 10 * SECOND) });
    expect(good.feature('offer_publisher_cr_vs_offer_24h')).toBeGreaterThan(0);
    // Two days on, yesterday's clicks no longer count: the pair is unknown again.
    const later = s.click({ publisherId: 'pub-spam', subId: 's1', ts: at(3 * DAY) });
    expect(later.obs.offerPublisherDay.clicks).toBe(1);
    expect(later.feature('offer_publisher_known')).toBe(0);
  });

  it("gives a conversion its offer × publisher rate, this conversion included, and the IP's and device's history", () => {
    const s = stream();
    traffic(s, 'pub-good', 400, 10, 0);
    const c = s.click({ publisherId: 'pub-good', subId: 's1', ip: '81.2.74.1', deviceId: 'dev-c', ts: at(4000 * 10 * SECOND) });
    s.click({ publisherId: 'pub-good', ip: '81.2.74.1', deviceId: 'dev-d', ts: at(4001 * 10 * SECOND) });
    const conv = s.conversion(aConversion(c.e, { ts: at(4002 * 10 * SECOND) }));
    expect(conv.obs.offerPublisherDay).toEqual({ clicks: 402, conversions: 41 });
    expect(conv.feature('offer_publisher_known')).toBe(1);
    expect(conv.obs.ipHistory).toMatchObject({ distinctDevices: 2, distinctClicks: 2 });
    expect(conv.feature('ip_distinct_clicks_so_far')).toBeCloseTo(Math.log1p(2));
    expect(conv.feature('device_distinct_clicks_so_far')).toBeCloseTo(Math.log1p(1));
    const orphan = s.conversion(aConversion(null, { ts: at(4003 * 10 * SECOND) }));
    expect(orphan.obs.offerPublisherDay).toBeNull();
    expect(orphan.feature('offer_publisher_known')).toBe(0);
    expect(orphan.feature('ip_distinct_clicks_so_far')).toBe(0);
  });
});

describe('causal features: nothing from the future', () => {
  /** A reproducible mixed stream: clicks from a small pool of IPs, devices, offers, publishers; some convert. */
  function events(seed: number, n: number, startIndex = 0): (ClickEvent | ConversionEvent)[] {
    let x = seed;
    const rnd = (k: number) => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return (x >>> 8) % k;
    };
    const out: (ClickEvent | ConversionEvent)[] = [];
    for (let i = startIndex; i < startIndex + n; i++) {
      const ts = at(i * 20 * SECOND);
      const previous = out[out.length - 1];
      if (previous?.kind === 'click' && rnd(4) === 0) {
        out.push(aConversion(previous, { id: `cnv-${seed}-${i}`, ts }));
        continue;
      }
      out.push(
        aClick({
          id: `clk-${seed}-${i}`,
          ts,
          ip: `81.2.${rnd(3)}.${1 + rnd(5)}`,
          deviceId: rnd(3) === 0 ? undefined : `dev-${rnd(6)}`,
          userAgent: rnd(2) ? CHROME_UA : IPHONE_UA,
          offerId: `offer-${rnd(2)}`,
          publisherId: `pub-${rnd(3)}`,
          subId: `s${rnd(2)}`,
        }),
      );
    }
    return out;
  }

  function vectors(all: (ClickEvent | ConversionEvent)[]): number[][] {
    const s = stream();
    return all.map((e) => (e.kind === 'click' ? clickVector(s, e) : conversionVector(s, e)));
  }
  const clickVector = (s: ReturnType<typeof stream>, e: ClickEvent) => {
    const r = s.click(e);
    return CLICK_FEATURES.map((name) => r.feature(name));
  };
  const conversionVector = (s: ReturnType<typeof stream>, e: ConversionEvent) => {
    const r = s.conversion(e);
    return CONVERSION_FEATURES.map((name) => r.feature(name));
  };

  it("an event's features do not change when the events after it change", () => {
    const past = events(7, 300);
    const k = past.length - 1;
    const one = vectors([...past, ...events(8, 300, 300)]);
    const other = vectors([...past, ...events(9, 300, 300)]);
    const none = vectors(past);
    expect(one.slice(0, k + 1)).toEqual(none);
    expect(other.slice(0, k + 1)).toEqual(none);
    // The futures differ, and so do their features: the comparison could fail.
    expect(one.slice(k + 1)).not.toEqual(other.slice(k + 1));
  });
});

describe('the shared click observation', () => {
  it('is one object filled in place with what a fresh observation says, click after click', () => {
    const fresh = new FeatureState();
    const shared = new FeatureState();
    let first: unknown = null;
    for (let i = 0; i < 60; i++) {
      const e = aClick({
        ip: `81.2.69.${i % 7}`,
        deviceId: i % 3 === 0 ? undefined : `dev-${i % 5}`,
        subId: i % 4 === 0 ? undefined : `s${i % 2}`,
        publisherId: `pub-${i % 3}`,
        offerId: `offer-${i % 2}`,
        userAgent: i % 2 ? CHROME_UA : IPHONE_UA,
        ts: at(i * 7 * MINUTE),
      });
      const expected = fresh.observeClick(e);
      const got = shared.observeClick(e, true);
      expect(got).toEqual(expected);
      if (i === 0) first = got;
      expect(got).toBe(first);
      if (i === 0) fresh.observeConversion(aConversion(e, { ts: at(MINUTE) }), 'adv-1', null);
      if (i === 0) shared.observeConversion(aConversion(e, { ts: at(MINUTE) }), 'adv-1', null);
    }
  });
});
