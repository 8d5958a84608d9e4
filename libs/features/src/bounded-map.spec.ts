import { BoundedMap } from './bounded-map';

describe('BoundedMap', () => {
  it('forgets the oldest insertion beyond its bound, in insertion order', () => {
    const sut = new BoundedMap<string, number>(3);
    for (const k of ['a', 'b', 'c', 'd', 'e']) sut.set(k, 1);
    expect([...keys(sut)]).toEqual(['c', 'd', 'e']);
    expect(sut.evictions).toBe(2);
  });

  it('keeps the order through updates, deletions and re-insertions', () => {
    const sut = new BoundedMap<string, number>(3);
    const steps: [string, string][] = [
      ['set', 'a'],
      ['set', 'b'],
      ['set', 'c'],
      ['delete', 'a'],
      ['set', 'd'],
      ['set', 'b'], // an update keeps its place
      ['set', 'e'],
      ['set', 'f'],
      ['delete', 'e'],
      ['set', 'g'],
      ['set', 'a'], // re-inserted after its deletion: the newest
    ];
    for (const [op, k] of steps) {
      if (op === 'set') sut.set(k, 1);
      else sut.delete(k);
    }
    expect([...keys(sut)]).toEqual(['f', 'g', 'a']);
  });

  it('evicts correctly after it was emptied and refilled', () => {
    const sut = new BoundedMap<number, number>(2);
    for (let i = 0; i < 5; i++) sut.set(i, i);
    sut.dropWhile(() => true);
    expect(sut.size).toBe(0);
    for (let i = 10; i < 15; i++) sut.set(i, i);
    expect([...keys(sut)]).toEqual([13, 14]);
  });

  it('stays bounded and ordered over many insertions (the scorer remembers 50,000 outcomes)', () => {
    const sut = new BoundedMap<string, number>(50_000);
    for (let i = 0; i < 200_000; i++) sut.set(`k${i}`, i);
    const left = [...keys(sut)];
    expect(left).toHaveLength(50_000);
    expect([left[0], left[49_999]]).toEqual(['k150000', 'k199999']);
  });
});

/** The entries' keys, oldest first (the order eviction follows). */
function keys<K, V>(m: BoundedMap<K, V>): K[] {
  return [...(m as unknown as { map: Map<K, V> }).map.keys()];
}
