import { BoundedMap } from './bounded-map';
import { EncodedMap } from './encoded-map';

interface Value {
  id: string;
  n: number;
  text: string;
  rows: { a: string; b: number | null }[];
}

/** A deterministic pseudo-random sequence (the test must be repeatable). */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return s / 2 ** 32;
  };
}

function aValue(id: string, size: number): Value {
  return {
    id,
    n: size / 7,
    text: 'x'.repeat(size) + 'é€😀',
    rows: Array.from({ length: size % 5 }, (_, i) => ({ a: `row ${i}`, b: i % 2 ? null : i * 0.1 })),
  };
}

describe('EncodedMap', () => {
  it('gives back a deep-equal copy of what was set, not the object itself', () => {
    const sut = new EncodedMap<Value>(10);
    const value = aValue('a', 40);
    sut.set('a', value);
    const got = sut.get('a');
    expect(got).toEqual(value);
    expect(got).not.toBe(value);
    expect(sut.get('b')).toBeUndefined();
  });

  it('forgets and keeps exactly what a BoundedMap of the same bound does, through updates, deletions, wrap-around and growth', () => {
    const next = random(7);
    const max = 300;
    const sut = new EncodedMap<Value>(max);
    const model = new BoundedMap<string, Value>(max);
    for (let step = 0; step < 30_000; step++) {
      const r = next();
      // Keys from a space a few times the bound: new keys, updates of kept ones and of forgotten ones.
      const key = `k${Math.floor(next() * max * 3)}`;
      if (r < 0.05) expect(sut.delete(key)).toBe(model.delete(key));
      else {
        // Sizes that change over the run, so the ring must grow and then wrap with room to spare.
        const size = Math.floor(next() * (step < 10_000 ? 50 : step < 20_000 ? 2_000 : 300));
        const value = aValue(key, size);
        sut.set(key, value);
        model.set(key, value);
      }
      if (step % 997 === 0 || step === 29_999) {
        expect(sut.size).toBe(model.size);
        for (const v of model.values()) expect(sut.get(v.id)).toEqual(v);
      }
    }
    expect(sut.evictions).toBe(model.evictions);
    expect(sut.evictions).toBeGreaterThan(0);
  });

  it('holds its bound of large values in a ring sized to what is live, not to everything ever written', () => {
    const sut = new EncodedMap<Value>(100);
    for (let i = 0; i < 10_000; i++) sut.set(`k${i}`, aValue(`k${i}`, 1_000));
    expect(sut.size).toBe(100);
    // 100 values of about 1.1 KB each; 10,000 were written.
    expect(sut.capacity).toBeLessThan(100 * 1_200 * 2);
    for (let i = 9_900; i < 10_000; i++) expect(sut.get(`k${i}`)).toEqual(aValue(`k${i}`, 1_000));
    expect(sut.get('k9899')).toBeUndefined();
  });
});
