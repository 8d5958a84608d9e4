import { ClickStore } from './click-store';
import type { ClickRecord } from './feature-state';

const click = (id: string, t: number, extra: Partial<ClickRecord> = {}): ClickRecord => ({
  id,
  t,
  offerId: 'offer',
  publisherId: 'pub',
  subId: null,
  ip: '8.8.8.8',
  userAgent: 'Mozilla/5.0',
  deviceId: null,
  country: 'US',
  declaredCountry: null,
  valid: true,
  risk: 0,
  probability: null,
  referrer: false,
  reasonCodes: [],
  conversions: 0,
  ...extra,
});

describe('ClickStore', () => {
  it('gives back what it kept, field for field (nulls, flags, scores)', () => {
    const sut = new ClickStore(10);
    const a = click('a', 1000, {
      subId: 's',
      deviceId: 'd',
      probability: 0.37,
      valid: false,
      referrer: true,
      risk: 0.75,
      reasonCodes: ['IP_VELOCITY'],
      conversions: 2,
    });
    const b = click('b', 2000);
    sut.put(a);
    sut.put(b);
    expect(sut.get('a')).toEqual(a);
    expect(sut.get('b')).toEqual(b);
    expect(sut.get('c')).toBeUndefined();
    expect(sut.has('b')).toBe(true);
  });

  it('credits conversions in place and overwrites a click kept twice', () => {
    const sut = new ClickStore(10);
    sut.put(click('a', 1000));
    expect(sut.credit('a')).toBe(true);
    expect(sut.credit('zz')).toBe(false);
    expect(sut.get('a')!.conversions).toBe(1);
    sut.put(click('a', 1000, { risk: 0.5 }));
    expect(sut.size).toBe(1);
    expect(sut.get('a')!.risk).toBe(0.5);
  });

  it('evicts the oldest beyond its maximum and expires from the oldest end', () => {
    const sut = new ClickStore(3, 2);
    for (let i = 0; i < 5; i++) sut.put(click(`c${i}`, 1000 * i));
    expect(sut.size).toBe(3);
    expect(sut.evictions).toBe(2);
    expect(['c0', 'c1', 'c2', 'c3', 'c4'].map((id) => sut.has(id))).toEqual([false, false, true, true, true]);
    expect(sut.dropOlderThan(3500, 10_000)).toBe(4000 + 10_000);
    expect(['c2', 'c3', 'c4'].map((id) => sut.has(id))).toEqual([false, false, true]);
    expect(sut.dropOlderThan(99_999, 10)).toBe(Infinity);
    expect(sut.size).toBe(0);
  });

  it('keeps insertion order and every click findable while it grows and recycles slots', () => {
    const sut = new ClickStore(50_000, 2);
    for (let i = 0; i < 100_000; i++) {
      sut.put(click(`k${i}`, i));
      if (i % 7 === 0) sut.dropOlderThan(i - 20_000, 20_000);
    }
    expect(sut.size).toBeLessThanOrEqual(50_000);
    for (let i = 100_000 - sut.size; i < 100_000; i++) expect(sut.get(`k${i}`)?.t).toBe(i);
    expect(sut.has(`k${99_999 - sut.size}`)).toBe(false);
  });
});
