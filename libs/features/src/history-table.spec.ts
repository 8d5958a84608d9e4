import { HistoryTable } from './history-table';
import { OFFLINE_DISTINCT_SECRET, distinctKey, hashPart, keyHash, valueHash } from './window-table';

const h = (s: string) => keyHash(hashPart(s));
/** A value's hash as the state computes it for the sketches, with the fixed offline secret: the same estimates in every run. */
const KEY = distinctKey(OFFLINE_DISTINCT_SECRET);
const v = (s: string) => keyHash(valueHash(KEY, s));
const T = Date.parse('2026-11-02T12:00:00.000Z');

describe('HistoryTable', () => {
  it('refuses a cap whose records would pass 2 GiB, where its 32-bit byte offsets would wrap and lose values', () => {
    expect(() => new HistoryTable(3, 20_000_000)).toThrow(/at most 2 GiB/);
    expect(() => new HistoryTable(3, 200_000)).not.toThrow();
  });

  it('counts up to four distinct values exactly, then estimates within one while few; a repeated value once', () => {
    const sut = new HistoryTable(1, 10);
    const slot = sut.slot(h('ip'), 'ip', T);
    expect(sut.distinct(slot, 0)).toBe(0);
    for (let n = 1; n <= 10; n++) {
      sut.addDistinct(slot, 0, v(`device-${n}`));
      sut.addDistinct(slot, 0, v(`device-${n}`));
      if (n <= 4) expect(sut.distinct(slot, 0)).toBe(n);
      else expect(Math.abs(sut.distinct(slot, 0) - n)).toBeLessThanOrEqual(1);
    }
  });

  it('estimates large distinct counts within the sketch error (32 registers: about 18 %)', () => {
    const sut = new HistoryTable(1, 100);
    const errors: number[] = [];
    for (let k = 0; k < 40; k++) {
      const slot = sut.slot(h(`ip-${k}`), `ip-${k}`, T);
      for (let i = 0; i < 2000; i++) sut.addDistinct(slot, 0, v(`ip-${k}-click-${i}`));
      errors.push(sut.distinct(slot, 0) / 2000 - 1);
    }
    const mean = errors.reduce((a, b) => a + b, 0) / errors.length;
    const rms = Math.sqrt(errors.reduce((a, b) => a + b * b, 0) / errors.length);
    expect(Math.abs(mean)).toBeLessThan(0.1);
    expect(rms).toBeLessThan(0.3);
  });

  it('keeps its sketches apart per key and per sketch', () => {
    const sut = new HistoryTable(2, 10);
    const a = sut.slot(h('a'), 'a', T);
    sut.addDistinct(a, 0, v('x'));
    sut.addDistinct(a, 0, v('y'));
    const b = sut.slot(h('b'), 'b', T);
    sut.addDistinct(b, 1, v('x'));
    expect([sut.distinct(a, 0), sut.distinct(a, 1), sut.distinct(b, 0), sut.distinct(b, 1)]).toEqual([2, 0, 0, 1]);
  });

  it('remembers when a key was first and last seen; an older event moves the first sighting back', () => {
    const sut = new HistoryTable(1, 10);
    const slot = sut.slot(h('ip'), 'ip', T);
    sut.touch(slot, T);
    sut.touch(slot, T + 5000);
    sut.touch(slot, T - 1000);
    expect(sut.firstSeenOf(slot)).toBe(T - 1000);
    expect(sut.lastSeenOf(slot)).toBe(T + 5000);
    expect(sut.find(h('ip'), 'ip')).toBe(slot);
    expect(sut.find(h('other'), 'other')).toBe(-1);
  });

  it('holds at most maxKeys keys, dropping the least recently seen first', () => {
    const sut = new HistoryTable(3, 100);
    for (let i = 0; i < 1000; i++) {
      const slot = sut.slot(h(`ip-${i}`), `ip-${i}`, T + i * 1000);
      sut.touch(slot, T + i * 1000);
      sut.addDistinct(slot, 0, v(`d-${i}`));
    }
    expect(sut.size).toBeLessThanOrEqual(100);
    expect(sut.evictions).toBeGreaterThanOrEqual(900);
    expect(sut.find(h('ip-0'), 'ip-0')).toBe(-1);
    const last = sut.find(h('ip-999'), 'ip-999');
    expect(sut.distinct(last, 0)).toBe(1);
    // Its typed arrays never grow past the cap.
    expect(sut.bytes).toBeLessThanOrEqual(100 * HistoryTable.bytesPerKey(3) + 4096);
  });

  it('a dropped key that comes back starts over as new', () => {
    const sut = new HistoryTable(1, 2);
    const a = sut.slot(h('a'), 'a', T);
    sut.addDistinct(a, 0, v('x'));
    sut.slot(h('b'), 'b', T + 1000);
    sut.touch(sut.slot(h('b'), 'b', T + 1000), T + 1000);
    sut.slot(h('c'), 'c', T + 2000);
    const again = sut.slot(h('a'), 'a', T + 3000);
    expect(sut.distinct(again, 0)).toBe(0);
    expect(sut.firstSeenOf(again)).toBe(T + 3000);
  });
});
