import { SlidingCounts } from './sliding-counts';

const MIN = 60_000;
const windows = [
  { name: '1m', spanMs: MIN, buckets: 6 },
  { name: '1h', spanMs: 60 * MIN, buckets: 12 },
];

describe('SlidingCounts', () => {
  it('counts events of a key inside each window', () => {
    const sut = new SlidingCounts(windows);
    const t0 = 1_700_000_000_000;
    for (let i = 0; i < 5; i++) sut.add('ip-a', t0 + i * 1000);
    expect(sut.count('ip-a', 0, t0 + 5000)).toBe(5);
    expect(sut.count('ip-a', 1, t0 + 5000)).toBe(5);
    expect(sut.count('ip-b', 0, t0 + 5000)).toBe(0);
  });

  it('forgets events once they leave the window', () => {
    const sut = new SlidingCounts(windows);
    const t0 = 1_700_000_000_000;
    sut.add('k', t0);
    sut.add('k', t0 + 1000);
    expect(sut.count('k', 0, t0 + 2 * MIN)).toBe(0);
    expect(sut.count('k', 1, t0 + 2 * MIN)).toBe(2);
    expect(sut.count('k', 1, t0 + 61 * MIN + 5 * MIN)).toBe(0);
  });

  it('clears buckets it wraps around to', () => {
    const sut = new SlidingCounts(windows);
    const t0 = 1_700_000_000_000;
    sut.add('k', t0);
    sut.add('k', t0 + 65_000); // one ring later in the 1-minute window
    expect(sut.count('k', 0, t0 + 65_000)).toBe(1);
  });

  it('counts a late event in the windows it still falls in', () => {
    const sut = new SlidingCounts(windows);
    const t0 = 1_700_000_000_000;
    sut.add('k', t0 + 30 * MIN);
    sut.add('k', t0 + 10 * MIN); // 20 minutes late: outside 1m, inside 1h
    expect(sut.count('k', 0, t0 + 30 * MIN)).toBe(1);
    expect(sut.count('k', 1, t0 + 30 * MIN)).toBe(2);
  });

  it('keeps the window edge within one bucket', () => {
    const sut = new SlidingCounts(windows);
    const t0 = 1_700_000_000_000 - (1_700_000_000_000 % 10_000); // bucket-aligned
    sut.add('k', t0);
    expect(sut.count('k', 0, t0 + 59_999)).toBe(1);
    expect(sut.count('k', 0, t0 + 60_000)).toBe(0);
  });

  it('sweeps keys that went quiet and stays within maxKeys', () => {
    const sut = new SlidingCounts(windows, 100, 8);
    const t0 = 1_700_000_000_000;
    for (let i = 0; i < 1000; i++) sut.add(`ip-${i}`, t0 + i);
    expect(sut.size).toBeLessThanOrEqual(100);
    expect(sut.evictions).toBeGreaterThan(0);
    sut.add('late', t0 + 3 * 60 * MIN);
    sut.sweep();
    expect(sut.size).toBe(1);
  });

  it('reuses freed slots without leaking old counts', () => {
    const sut = new SlidingCounts(windows, 2, 2);
    const t0 = 1_700_000_000_000;
    sut.add('a', t0);
    sut.add('a', t0);
    sut.add('b', t0 + 1);
    sut.add('c', t0 + 2); // evicts a
    expect(sut.count('c', 0, t0 + 2)).toBe(1);
    expect(sut.count('a', 0, t0 + 2)).toBe(0);
  });
});
