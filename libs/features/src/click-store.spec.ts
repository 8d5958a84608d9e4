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

  it('gives back ids, addresses and codes that do not fit its columns, and shares code lists', () => {
    const sut = new ClickStore(10);
    const clicks = [
      click('x'.repeat(41), 1, { ip: '2001:db8::1', subId: '', reasonCodes: ['IP_VELOCITY', 'BOT_USER_AGENT'] }),
      click('click-é-ü', 2, { ip: 'not an address', deviceId: 'device-1', declaredCountry: 'FR' }),
      click('c3', 3, { ip: '010.1.2.3', reasonCodes: ['IP_VELOCITY', 'BOT_USER_AGENT'] }),
      click('c4', 4, { ip: '255.255.255.255', country: null, reasonCodes: ['BOT_USER_AGENT', 'IP_VELOCITY'] }),
      click('', 5, { ip: '0.0.0.0' }),
    ];
    for (const c of clicks) sut.put(c);
    for (const c of clicks) expect(sut.get(c.id)).toEqual(c);
    expect(sut.get('x'.repeat(40))).toBeUndefined();
    expect(sut.get('click-e-u')).toBeUndefined();
    expect(sut.get(clicks[0].id)!.reasonCodes).toBe(sut.get('c3')!.reasonCodes);
  });

  it('keeps a minted id and the ids a sender spells like it apart (case, leading zero, no prefix)', () => {
    const sut = new ClickStore(10);
    const u = '01a0f4c2-c426-7601-ad2e-1f998d8454b4';
    const ids = [`c0.${u}`, `c0.${u.toUpperCase()}`, `C0.${u}`, `c00.${u}`, u, u.toUpperCase(), `c1.${u}`];
    ids.forEach((id, i) => sut.put(click(id, i, { risk: i / 10 })));
    expect(sut.size).toBe(ids.length);
    ids.forEach((id, i) => expect(sut.get(id)?.risk).toBe(i / 10));
    expect(sut.has(`c0.${u.slice(0, -1)}5`)).toBe(false);
  });

  it('answers like a map of the clicks it holds through puts, credits, evictions and expiry (random)', () => {
    let seed = 7;
    const random = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) % n;
    const sut = new ClickStore(300, 16);
    const model = new Map<string, ClickRecord>();
    const codes = [[], ['A'], ['A', 'B'], ['B']];
    let t = 0;
    for (let i = 0; i < 20_000; i++) {
      const op = random(10);
      const id = `c${random(2_000)}`;
      if (op < 6) {
        const c = click(id, (t += random(3)), {
          offerId: `o${random(5)}`,
          subId: random(3) === 0 ? null : `s${random(4)}`,
          ip: random(4) === 0 ? `2001:db8::${random(50)}` : `10.0.${random(3)}.${random(256)}`,
          deviceId: random(2) === 0 ? null : `d${random(100)}`,
          reasonCodes: codes[random(codes.length)],
          risk: random(100) / 100,
        });
        if (!model.has(id) && model.size >= 300) model.delete(model.keys().next().value!);
        model.set(id, c);
        sut.put(c);
      } else if (op < 8) {
        expect(sut.credit(id)).toBe(model.has(id));
        if (model.has(id)) model.get(id)!.conversions++;
      } else if (op < 9) {
        const cutoff = t - 200;
        sut.dropOlderThan(cutoff, 200);
        // Insertion order is the model's; drop from its front while older than the cut-off.
        for (const [k, c] of model) {
          if (c.t >= cutoff) break;
          model.delete(k);
        }
      } else {
        expect(sut.get(id)).toEqual(model.get(id));
      }
    }
    expect(sut.size).toBe(model.size);
    for (const [id, c] of model) expect(sut.get(id)).toEqual(c);
  });

  it('gives back every click when more distinct offers and sub-ids than 16-bit ids can name come through', () => {
    const sut = new ClickStore(80_000, 16);
    const n = 70_000;
    for (let i = 0; i < n; i++)
      sut.put(click(`c${i}`, i, { offerId: `offer-${i}`, subId: i % 2 ? `sub-${i}` : null, deviceId: `d${i % 7}` }));
    for (let i = 0; i < n; i += 997) {
      expect(sut.get(`c${i}`)).toEqual(
        click(`c${i}`, i, { offerId: `offer-${i}`, subId: i % 2 ? `sub-${i}` : null, deviceId: `d${i % 7}` }),
      );
    }
    expect(sut.get(`c${n - 1}`)!.offerId).toBe(`offer-${n - 1}`);
  });

  it('lets go of the strings of the clicks it dropped', () => {
    const sut = new ClickStore(100);
    for (let i = 0; i < 1_000; i++) sut.put(click(`c${i}`, i, { offerId: `offer-${i}`, deviceId: `device-${i}`, ip: `::${i}` }));
    // 100 clicks left, each with its own offer, device and address, and the shared rest.
    expect(sut.pooledStrings).toBe(100 * 3 + 3);
    sut.dropOlderThan(Infinity, 0);
    expect(sut.pooledStrings).toBe(0);
  });
});
