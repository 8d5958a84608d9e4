import fc from 'fast-check';
import { ClickIdColumn } from './click-ids';

const hex = '0123456789abcdef';
const uuid = fc.uuid();
/** `c<p>.<uuid>` as the engine mints it, and the near misses a sender could choose. */
const minted = fc.tuple(fc.integer({ min: 0, max: 400 }), uuid).map(([p, u]) => `c${p}.${u}`);
const nearMinted = fc
  .tuple(fc.constantFrom('c0.', 'c00.', 'c01.', 'C1.', 'c1', 'c1..', 'c-1.', 'c1000.', 'x1.', 'c235.', 'c236.', ''), uuid)
  .map(([prefix, u]) => prefix + u);
/** One character of a string changed: case flipped, or replaced (hex digits, dashes, anything). */
const variant = (s: string, at: number, how: number): string => {
  if (s.length === 0) return 'a';
  const i = at % s.length;
  const c = s[i];
  const swapped = c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase();
  const replacement = [swapped, hex[(hex.indexOf(c) + 1) % 16], '-', 'é', 'G', '\u0000'][how % 6];
  return s.slice(0, i) + replacement + s.slice(i + 1);
};
const anyId = fc.oneof(
  minted,
  nearMinted,
  uuid,
  uuid.map((u) => u.toUpperCase()),
  uuid.map((u) => `${u}x`),
  uuid.map((u) => u.slice(1)),
  fc.string({ maxLength: 16 }),
  fc.string({ minLength: 17, maxLength: 70 }),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
);

describe('ClickIdColumn', () => {
  it('matches a kept id with exactly that string and no other, whatever its form (property)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(anyId, { minLength: 1, maxLength: 40 }), fc.nat(), fc.nat(), (ids, at, how) => {
        // Grown from one slot, as the store grows its columns.
        const sut = new ClickIdColumn(1);
        sut.grow(ids.length);
        ids.forEach((id, slot) => sut.set(slot, id));
        for (let slot = 0; slot < ids.length; slot++) {
          const id = ids[slot];
          for (let other = 0; other < ids.length; other++) expect(sut.matches(slot, ids[other])).toBe(slot === other);
          const near = [
            id.toUpperCase(),
            id.toLowerCase(),
            variant(id, at, how),
            variant(id, at + 7, how + 1),
            id.slice(0, -1),
            `${id}0`,
            `0${id}`,
            id.replace(/^c(\d+)\./, 'c0$1.'),
            id.replace(/^c\d+\./, ''),
            id.replace(/^c(\d+)\./, (_, p: string) => `c${Number(p) + 1}.`),
          ];
          for (const v of near) expect(sut.matches(slot, v)).toBe(v === id);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('keeps minted ids and lowercase UUIDs in the column, and any other spelling of them as its characters', () => {
    const sut = new ClickIdColumn(8);
    const u = '01a0f4c2-c426-7601-ad2e-1f998d8454b4';
    const packed = [u, `c0.${u}`, `c7.${u}`, `c235.${u}`, 'short-id-16chars'];
    packed.forEach((id, slot) => sut.set(slot, id));
    expect(sut.outside).toEqual({ rows: 0, strings: 0 });
    // Upper case, a leading zero, a partition past the kind byte's: 39-40 ASCII characters, a row each.
    const spelled = [u.toUpperCase(), `c07.${u}`, `c236.${u}`];
    spelled.forEach((id, slot) => sut.set(5 + slot, id));
    expect(sut.outside).toEqual({ rows: 3, strings: 0 });
    [...packed, ...spelled].forEach((id, slot) => expect(sut.matches(slot, id)).toBe(true));
    expect(sut.matches(0, u.toUpperCase())).toBe(false);
    expect(sut.matches(5, u)).toBe(false);
    expect(sut.matches(1, `c00.${u}`)).toBe(false);
  });

  it('gives back the rows and strings of the ids it lets go, and reuses them', () => {
    const sut = new ClickIdColumn(4);
    const long = (i: number) => `partner-click-${i}-${'z'.repeat(40)}`;
    for (let round = 0; round < 3; round++) {
      for (let slot = 0; slot < 4; slot++) sut.set(slot, slot % 2 ? long(round * 10 + slot) : `id-é-${round}-${slot}`);
      expect(sut.outside).toEqual({ rows: 2, strings: 2 });
      for (let slot = 0; slot < 4; slot++)
        expect(sut.matches(slot, slot % 2 ? long(round * 10 + slot) : `id-é-${round}-${slot}`)).toBe(true);
      for (let slot = 0; slot < 4; slot++) sut.release(slot);
      expect(sut.outside).toEqual({ rows: 0, strings: 0 });
    }
  });
});
