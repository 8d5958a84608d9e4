import { aClick, aConversion, anOffer, at } from '@app/testing';
import { FeatureState } from './feature-state';
import { CLICK_FEATURES, clickFeatures } from './feature-vector';

const feature = (x: Float64Array, name: (typeof CLICK_FEATURES)[number]) => x[CLICK_FEATURES.indexOf(name)];
const MINUTE = 60_000;

/**
 * A network whose publisher `pub-busy` gets 1,200 clicks and converts one in twenty; then `n`
 * clicks of `publisherId` (one sub-id), which never convert. Returns the last click's features.
 */
function network(publisherId: string, n: number, overrides = {}): Float64Array {
  const state = new FeatureState();
  const out = new Float64Array(CLICK_FEATURES.length);
  const observe = (e: ReturnType<typeof aClick>) =>
    clickFeatures({ event: e, obs: state.observeClick(e), offer: anOffer(), datacenter: false, rulesRisk: 0 }, out);
  for (let i = 0; i < 1200; i++) {
    const e = aClick({ publisherId: 'pub-busy', ip: `81.2.${i % 200}.${1 + (i % 250)}`, ts: at(i * MINUTE) });
    observe(e);
    state.rememberClick({
      id: e.id,
      t: Date.parse(e.ts),
      offerId: e.offerId,
      publisherId: e.publisherId,
      subId: null,
      ip: e.ip,
      userAgent: e.userAgent,
      deviceId: null,
      country: 'US',
      declaredCountry: null,
      valid: true,
      risk: 0,
      probability: null,
      referrer: false,
      reasonCodes: [],
      conversions: 0,
    });
    if (i % 20 === 0) state.observeConversion(aConversion(e, { ts: at(i * MINUTE + 5 * MINUTE) }), 'adv-1', null);
  }
  for (let i = 0; i < n; i++) {
    observe(aClick({ publisherId, subId: 's1', ip: `82.3.${i % 200}.${1 + (i % 250)}`, ts: at((1200 + i) * MINUTE), ...overrides }));
  }
  return out;
}

describe('click features: cold start is unknown, not zero (issue 14)', () => {
  it('a brand-new publisher and sub-id are unknown and read like the network', () => {
    const sut = network('pub-new', 1);
    expect(feature(sut, 'publisher_known')).toBe(0);
    expect(feature(sut, 'sub_id_known')).toBe(0);
    expect(feature(sut, 'publisher_cr_vs_network_7d')).toBe(0);
    expect(feature(sut, 'sub_id_cr_vs_network_7d')).toBe(0);
    expect(feature(sut, 'publisher_late_vs_network_7d')).toBe(0);
  });

  it('a publisher with enough clicks and no conversion while the network converts is known, and far below it', () => {
    const sut = network('pub-old', 150);
    expect(feature(sut, 'publisher_known')).toBe(1);
    expect(feature(sut, 'sub_id_known')).toBe(1);
    expect(feature(sut, 'publisher_cr_vs_network_7d')).toBeLessThan(-1.5);
  });

  it('the same clean click reads the same with or without a referrer', () => {
    expect(network('pub-r', 3, { referrer: 'https://blog.example/' })).toEqual(network('pub-r', 3));
  });
});
