import { JsonWriter, readJson } from './json-bytes';

/** What a consumer of the JSON would have received. */
const viaJson = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

function roundTrip(v: unknown, sut = new JsonWriter()): unknown {
  sut.reset();
  sut.write(v);
  return readJson(sut.bytes.subarray(0, sut.length), 0);
}

/** A deterministic pseudo-random sequence (the test must be repeatable). */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return s / 2 ** 32;
  };
}

const NUMBERS = [
  0,
  -0,
  1,
  -1,
  127,
  128,
  -128,
  -129,
  2 ** 31 - 1,
  -(2 ** 31),
  2 ** 31,
  2 ** 32,
  -(2 ** 53),
  0.1,
  1 / 3,
  1e-300,
  1.7976931348623157e308,
  5e-324,
  NaN,
  Infinity,
  -Infinity,
];
const STRINGS = [
  '',
  'a',
  'x'.repeat(254),
  'x'.repeat(255),
  'é ÿ \u0080',
  '€ 😀 \u07ff \u0800 \uffff \u{10ffff}',
  '\ud800 lone',
  'lone \udfff',
  '\udc00\ud800 reversed',
  '"quoted" \\ \n\t\u0000',
  'y'.repeat(70_000) + '€',
];

describe('JsonWriter / readJson', () => {
  it.each([...NUMBERS, ...STRINGS].map((v) => [v]))('reads back %p as JSON does', (v) => {
    expect(Object.is(roundTrip(v), viaJson(v))).toBe(true);
    expect(Object.is((roundTrip([v]) as unknown[])[0], (viaJson([v]) as unknown[])[0])).toBe(true);
  });

  it('leaves out of objects, and writes null in arrays for, what JSON cannot hold', () => {
    const value = { a: undefined, b: () => 1, c: Symbol('s'), d: 1, e: [undefined, () => 1, Symbol('s'), NaN, -0, 2] };
    expect(JSON.stringify(roundTrip(value))).toBe(JSON.stringify(value));
    expect(roundTrip(value)).toEqual(viaJson(value));
    const holes = [1, , 3]; // eslint-disable-line no-sparse-arrays
    expect(roundTrip(holes)).toEqual([1, null, 3]);
  });

  it('calls toJSON with the key, unboxes primitives and keeps key order, integer-like keys included', () => {
    const when = new Date(Date.UTC(2026, 11, 2));
    const keyed = { toJSON: (key: string) => `key=${key}` };
    const value = { z: 1, 10: 'ten', a: when, 2: keyed, list: [keyed], boxed: [Object(5), Object('s'), Object(false)], __proto__x: 1 };
    expect(JSON.stringify(roundTrip(value))).toBe(JSON.stringify(value));
    expect(roundTrip(when)).toBe(when.toJSON());
  });

  it('calls toJSON once and serialises its result as it is, as JSON does', () => {
    const values: unknown[] = [
      { a: { toJSON: () => new Date(0) } },
      {
        a: 1,
        toJSON() {
          return this;
        },
      },
      [Object.assign(() => 1, { toJSON: () => 'from a function' })],
      { n: Object.create(Number.prototype) },
      { s: new (class extends String {})('sub') },
    ];
    for (const v of values) expect(roundTrip(v)).toEqual(viaJson(v));
    expect(() => roundTrip({ b: Object(1n) })).toThrow(TypeError);
  });

  it('writes strings that end at, cross or start past the end of its buffer whole', () => {
    // A fresh writer each time: its buffer starts small, so every string meets its end somewhere.
    for (let pad = 0; pad <= 4200; pad += 7) {
      for (const tail of ['z'.repeat(300), '€'.repeat(150), '😀'.repeat(80)]) {
        const v = ['p'.repeat(pad), tail];
        expect(roundTrip(v, new JsonWriter())).toEqual(v);
      }
    }
  });

  it('keeps a "__proto__" key as an own key, as JSON.parse does', () => {
    const value = JSON.parse('{"__proto__":{"polluted":true},"a":1}');
    const got = roundTrip(value) as Record<string, unknown>;
    expect(Object.getPrototypeOf(got)).toBe(Object.prototype);
    expect(JSON.stringify(got)).toBe(JSON.stringify(value));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('takes about a byte a character for Latin-1 text, and UTF-8 for the rest', () => {
    const sut = new JsonWriter();
    sut.write('x'.repeat(1_000));
    expect(sut.length).toBeLessThan(1_010);
    sut.reset();
    sut.write('x'.repeat(1_000) + '€😀');
    expect(sut.length).toBeLessThan(1_020);
  });

  it('throws on a BigInt, as JSON.stringify does', () => {
    expect(() => new JsonWriter().write({ n: 1n })).toThrow(TypeError);
  });

  it('reads back random nested values exactly as JSON.parse(JSON.stringify(v)), one writer reused and grown', () => {
    const next = random(19);
    const scalar = (): unknown => {
      const r = next();
      if (r < 0.3) return NUMBERS[Math.floor(next() * NUMBERS.length)];
      if (r < 0.4) return next() * 1e6 - 5e5;
      if (r < 0.7) return STRINGS[Math.floor(next() * (STRINGS.length - 1))]; // not the longest
      if (r < 0.8) return next() < 0.5;
      if (r < 0.9) return null;
      return undefined;
    };
    const anyValue = (depth: number): unknown => {
      const r = next();
      if (depth > 3 || r < 0.5) return scalar();
      const n = Math.floor(next() * 12);
      if (r < 0.75) return Array.from({ length: n }, () => anyValue(depth + 1));
      const o: Record<string, unknown> = {};
      for (let i = 0; i < n; i++) o[next() < 0.2 ? String(i) : `k${Math.floor(next() * 1000)}é${i % 3 ? '' : '€'}`] = anyValue(depth + 1);
      return o;
    };
    const sut = new JsonWriter();
    for (let i = 0; i < 500; i++) {
      const v = anyValue(0) ?? null;
      const got = roundTrip(v, sut);
      expect(JSON.stringify(got)).toBe(JSON.stringify(v));
      expect(got).toEqual(viaJson(v));
    }
  });
});
