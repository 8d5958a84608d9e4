import { WindowTable, hashPart, keyHash } from './window-table';

const MIN = 60_000;
const windows = [
  { name: '1m', spanMs: MIN, buckets: 6 },
  { name: '1h', spanMs: 60 * MIN, buckets: 12 },
];
const T0 = 1_700_000_000_000;

/** One-counter helpers keyed by a single string, as most tests need. */
function table(maxKeys?: number, initialCapacity?: number) {
  const sut = new WindowTable([windows], maxKeys, initialCapacity);
  const h = (k: string) => keyHash(hashPart(k));
  return {
    sut,
    add: (k: string, t: number) => sut.add(sut.slot(h(k), k, '', t), 0, t),
    count: (k: string, w: number, t: number) => sut.countKey(h(k), k, '', 0, w, t),
  };
}

describe('WindowTable', () => {
  it('refuses a cap whose records would pass 2 GiB, where its 32-bit byte offsets would wrap and lose counts', () => {
    // 18 buckets: 4 × 2 heads + 2 × 18 counts = 44 bytes a key.
    expect(() => new WindowTable([windows], 50_000_000)).toThrow(/at most 2 GiB/);
    expect(() => new WindowTable([windows], 40_000_000)).not.toThrow();
  });

  it('counts events of a key inside each window', () => {
    const { add, count } = table();
    for (let i = 0; i < 5; i++) add('ip-a', T0 + i * 1000);
    expect(count('ip-a', 0, T0 + 5000)).toBe(5);
    expect(count('ip-a', 1, T0 + 5000)).toBe(5);
    expect(count('ip-b', 0, T0 + 5000)).toBe(0);
  });

  it('counts a click dated 1970-01-01 (an admin may send one) in its own key only, before and after', () => {
    const { add, count } = table();
    add('other', T0);
    add('other', T0);
    add('epoch', 0);
    add('epoch', 20_000);
    add('epoch', -5_000);
    expect(count('epoch', 0, 20_000)).toBe(3);
    expect(count('epoch', 1, 20_000)).toBe(3);
    expect(count('epoch', 0, 0)).toBe(2);
    expect(count('other', 0, T0)).toBe(2);
    expect(count('other', 1, T0)).toBe(2);
  });

  it('forgets events once they leave the window', () => {
    const { add, count } = table();
    add('k', T0);
    add('k', T0 + 1000);
    expect(count('k', 0, T0 + 2 * MIN)).toBe(0);
    expect(count('k', 1, T0 + 2 * MIN)).toBe(2);
    expect(count('k', 1, T0 + 61 * MIN + 5 * MIN)).toBe(0);
  });

  it('clears buckets it wraps around to', () => {
    const { add, count } = table();
    add('k', T0);
    add('k', T0 + 65_000); // one ring later in the 1-minute window
    expect(count('k', 0, T0 + 65_000)).toBe(1);
  });

  it('counts a late event in the windows it still falls in', () => {
    const { add, count } = table();
    add('k', T0 + 30 * MIN);
    add('k', T0 + 10 * MIN); // 20 minutes late: outside 1m, inside 1h
    expect(count('k', 0, T0 + 30 * MIN)).toBe(1);
    expect(count('k', 1, T0 + 30 * MIN)).toBe(2);
  });

  it('keeps the window edge within one bucket', () => {
    const { add, count } = table();
    const t0 = T0 - (T0 % 10_000); // bucket-aligned
    add('k', t0);
    expect(count('k', 0, t0 + 59_999)).toBe(1);
    expect(count('k', 0, t0 + 60_000)).toBe(0);
  });

  it('sweeps keys that went quiet and stays within maxKeys', () => {
    const { sut, add } = table(100, 8);
    for (let i = 0; i < 1000; i++) add(`ip-${i}`, T0 + i);
    expect(sut.size).toBeLessThanOrEqual(100);
    expect(sut.evictions).toBeGreaterThan(0);
    add('late', T0 + 3 * 60 * MIN);
    sut.sweep();
    expect(sut.size).toBe(1);
  });

  it('reuses freed slots without leaking old counts', () => {
    const { add, count } = table(2, 2);
    add('a', T0);
    add('a', T0);
    add('b', T0 + 1);
    add('c', T0 + 2); // evicts a
    expect(count('c', 0, T0 + 2)).toBe(1);
    expect(count('a', 0, T0 + 2)).toBe(0);
  });

  it('never releases the slot it just handed out while a second key of the same event is made', () => {
    // A late event (its time behind everything else) for a new publisher, then its sub-id, in a full
    // table: making the sub-id's slot must not evict or sweep the publisher's slot the caller holds.
    const sut = new WindowTable([windows], 3, 4);
    const h = (k: string) => keyHash(hashPart(k));
    for (const [i, k] of ['x', 'y', 'z'].entries()) sut.add(sut.slot(h(k), k, '', T0 + 3 * 60 * MIN + i), 0, T0 + 3 * 60 * MIN + i);
    const late = T0;
    const publisher = sut.slot(h('pub'), 'pub', '', late);
    sut.add(publisher, 0, late);
    const subId = sut.slot(keyHash(hashPart('pub'), hashPart('s1')), 'pub', 's1', late);
    expect(subId).not.toBe(publisher);
    expect(sut.find(h('pub'), 'pub')).toBe(publisher);
    expect(sut.countSlot(publisher, 0, 1, late)).toBe(1);
  });

  it('keeps several counters per key apart', () => {
    const sut = new WindowTable([windows, [windows[1]]]);
    const slot = sut.slot(keyHash(hashPart('ip')), 'ip', '', T0);
    sut.add(slot, 0, T0);
    sut.add(slot, 0, T0);
    sut.add(slot, 1, T0);
    expect([sut.countSlot(slot, 0, 0, T0), sut.countSlot(slot, 0, 1, T0), sut.countSlot(slot, 1, 0, T0)]).toEqual([2, 2, 1]);
  });

  it('tells two-part keys apart even when their parts concatenate alike or their hashes collide', () => {
    const sut = new WindowTable([windows]);
    const keys: [string, string][] = [
      ['ab', 'c'],
      ['a', 'bc'],
      ['abc', ''],
    ];
    // Same hash for all three: only the parts can tell them apart.
    for (const [i, [a, b]] of keys.entries()) {
      const slot = sut.slot(42, a, b, T0);
      for (let n = 0; n <= i; n++) sut.add(slot, 0, T0);
    }
    expect(keys.map(([a, b]) => sut.countKey(42, a, b, 0, 0, T0))).toEqual([1, 2, 3]);
  });

  it('finds every live key after many deletions (backward-shift deletion keeps probe chains intact)', () => {
    // A tiny table with colliding hashes and churn: the reference is a plain Map.
    const sut = new WindowTable([[{ name: '1h', spanMs: 60 * MIN, buckets: 1 }]], 64, 4);
    const reference = new Map<string, number>();
    let seed = 7;
    const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (let i = 0; i < 5000; i++) {
      const key = `k${Math.floor(rand() * 200)}`;
      const h = Math.floor(rand() * 8); // heavy collisions on purpose
      const t = T0 + i;
      sut.add(sut.slot(h * 1000 + Number(key.slice(1)), key, '', t), 0, t);
      reference.set(key, (reference.get(key) ?? 0) + 1);
    }
    // Evictions make counts drop to zero for some keys, never disagree for the ones still there.
    let found = 0;
    for (const [key, n] of reference) {
      for (let h = 0; h < 8; h++) {
        const slot = sut.find(h * 1000 + Number(key.slice(1)), key, '');
        if (slot >= 0) {
          found++;
          expect(sut.countSlot(slot, 0, 0, T0 + 5000)).toBeLessThanOrEqual(n);
        }
      }
    }
    expect(found).toBe(sut.size);
  });
});
