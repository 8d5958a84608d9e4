import { Type } from '@sinclair/typebox';
import { fullFormats } from 'ajv-formats/dist/formats';
import fc from 'fast-check';
import { compiled, isCanonicalInstant } from './validation';

describe('the date-time format every validator uses', () => {
  const schema = compiled(Type.Object({ at: Type.String({ format: 'date-time' }) }));

  it.each([
    ['2026-11-20T14:03:11Z', true],
    ['2026-11-20T14:03:11.123+02:00', true],
    // RFC 3339 allows these; no Date (leap second) or no PostgreSQL (year 0) can hold them.
    ['2016-12-31T23:59:60Z', false],
    ['0000-01-01T00:00:00Z', false],
    ['2026-02-30T00:00:00Z', false],
    ['2026-11-20', false],
  ])('%s → %s', (at, ok) => {
    const result = schema.check({ at });
    expect(result.ok).toBe(ok);
    if (!result.ok) expect(result.errors).toEqual([{ field: 'at', message: expect.stringContaining('date-time') }]);
  });
});

/**
 * `isCanonicalInstant` lets the engine's own spelling of a time skip the full check: it must never
 * accept what the full check refuses, and the format as a whole must answer exactly as the full check.
 */
describe('the date-time fast path', () => {
  const schema = compiled(Type.Object({ at: Type.String({ format: 'date-time' }) }));
  const rfc3339 = fullFormats['date-time'] as { validate: (s: string) => boolean };
  const full = (s: string) => rfc3339.validate(s) && !s.startsWith('0000') && !Number.isNaN(Date.parse(s));

  it.each([
    ['2026-12-02T04:05:06.789Z', true],
    ['2024-02-29T23:59:59.999Z', true],
    ['0001-01-01T00:00:00.000Z', true],
    ['9999-12-31T23:59:59.999Z', true],
    ['2023-02-29T00:00:00.000Z', false],
    ['2026-04-31T00:00:00.000Z', false],
    ['2026-13-01T00:00:00.000Z', false],
    ['2026-00-01T00:00:00.000Z', false],
    ['2026-01-00T00:00:00.000Z', false],
    ['2026-01-01T24:00:00.000Z', false],
    ['2026-01-01T23:60:00.000Z', false],
    ['2016-12-31T23:59:60.000Z', false],
    ['0000-01-01T00:00:00.000Z', false],
    ['2026-01-01T00:00:00.0a0Z', false],
    ['2026-01-01T00:00:00.000z', false],
    ['2026-01-01t00:00:00.000Z', false],
    ['+02026-01-01T00:00:00.000', false],
  ])('%s is the canonical spelling of an instant: %s', (s, ok) => {
    expect(isCanonicalInstant(s)).toBe(ok);
    if (ok) expect(full(s)).toBe(true);
  });

  it('takes the spellings it does not know to the full check (lowercase t and z, offsets, no milliseconds)', () => {
    for (const s of ['2026-01-01t00:00:00.000z', '2026-01-01T00:00:00+02:00', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00.1234Z']) {
      expect(isCanonicalInstant(s)).toBe(false);
      expect(schema.check({ at: s }).ok).toBe(true);
    }
  });

  it('answers as the full check on times near the canonical spelling', () => {
    const chars = '0123456789-:.TZtz+ ';
    const nearCanonical = fc
      .tuple(
        fc.date({ min: new Date('-000002-01-01T00:00:00Z'), max: new Date('+010001-01-01T00:00:00Z'), noInvalidDate: true }),
        fc.array(fc.tuple(fc.nat(23), fc.constantFrom(...chars)), { maxLength: 3 }),
      )
      .map(([d, edits]) => {
        const s = d.toISOString().split('');
        for (const [i, ch] of edits) s[i] = ch;
        return s.join('');
      });
    fc.assert(
      fc.property(nearCanonical, (s) => {
        if (isCanonicalInstant(s)) expect(full(s)).toBe(true);
        expect(schema.check({ at: s }).ok).toBe(full(s));
      }),
      { numRuns: 20_000 },
    );
  });
});

/**
 * A field path names keys the sender chose (an unknown key, a key of a map): quoted and cut as the
 * edge quotes them (`keyStep`), so a key cannot forge the error message's structure, nor pass for
 * another field.
 */
describe('field paths of keys a sender chose', () => {
  const schema = compiled(
    Type.Object({ ip: Type.String(), tags: Type.Optional(Type.Record(Type.String(), Type.Integer())) }, { additionalProperties: false }),
  );
  const fields = (value: unknown) => {
    const r = schema.check(value);
    return r.ok ? [] : r.errors.map((e) => e.field);
  };

  it.each([
    ['a key posing as a second error', 'x is required; ip', '["x is required; ip"]'],
    ['a key with a line break', 'a\nb', '["a\\nb"]'],
    ['a dotted key posing as a nested field', 'tags.a', '["tags.a"]'],
    ['a key of digits posing as an array index', '0', '["0"]'],
    ['a long key', 'k'.repeat(300), `${'k'.repeat(64)}…`],
    ['a plain unknown key', 'amount', 'amount'],
  ])('quotes %s', (_, key, field) => {
    expect(fields({ ip: '1.2.3.4', [key]: 1 })).toEqual([field]);
  });

  it('quotes the keys of a map in the path to a bad value', () => {
    expect(fields({ ip: '1.2.3.4', tags: { 'a; ip is required': 'x' } })).toEqual(['tags["a; ip is required"]']);
    expect(fields({ ip: '1.2.3.4', tags: { ok: 'x' } })).toEqual(['tags.ok']);
  });
});
