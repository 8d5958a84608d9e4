import fc from 'fast-check';
import { hasUnstorable, unstorableFields } from './unstorable-text';

describe('unstorableFields', () => {
  it.each([
    ['a clean body', { offerId: 'shoes', tags: ['a', 'b'], n: 1, nested: { x: null } }, []],
    ['emoji (surrogate pairs)', { name: 'Shoes \u{1F45F}', flags: ['\u{1F3F3}\u{FE0F}\u{200D}\u{1F308}'] }, []],
    ['a string field', { offerId: 'sh\u0000oes' }, ['offerId']],
    ['an array item', [{ ip: '1.2.3.4' }, { subId: '\u0000' }], ['[1].subId']],
    ['a key', { ['k\u0000']: 1 }, ['k\u0000']],
    ['a bare string', '\u0000', ['']],
    ['a lone high surrogate', { name: 'Sho\ud800es' }, ['name']],
    ['a lone low surrogate', { note: 'Shoes\udc00' }, ['note']],
    ['a reversed pair', { ruleset: { description: '\udc00\ud800' } }, ['ruleset.description']],
    ['a key with a lone surrogate', { ['\ud83d']: 1 }, ['\ud83d']],
  ])('finds unstorable text in %s', (_, value, fields) => {
    expect(unstorableFields(value, '').map((e) => e.field)).toEqual(fields);
    expect(hasUnstorable(value)).toBe(fields.length > 0);
  });

  it('says which of the two it found', () => {
    expect(unstorableFields({ a: 'x\u0000', b: 'x\ud800' }, '')).toEqual([
      { field: 'a', message: 'must not contain the NUL character (U+0000)' },
      { field: 'b', message: 'must not contain an unpaired surrogate (U+D800-U+DFFF): not Unicode text' },
    ]);
  });

  it('flags a string exactly when PostgreSQL could not store it as sent', () => {
    // No NUL, and no code unit left a surrogate once pairs are read as one code point (the `u` flag).
    const storable = (s: string) => !s.includes('\u0000') && !/\p{Surrogate}/u.test(s);
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => {
        expect(hasUnstorable({ s })).toBe(!storable(s));
        expect(unstorableFields({ s }, '').length).toBe(storable(s) ? 0 : 1);
      }),
      { numRuns: 5000 },
    );
  });

  it('walks bodies nested far deeper than the call stack', () => {
    let deep: unknown = '\ud800';
    for (let i = 0; i < 200_000; i++) deep = [deep];
    expect(unstorableFields(deep, '')).toHaveLength(1);
    expect(hasUnstorable(deep)).toBe(true);
  });

  it('names at most 20 fields', () => {
    expect(
      unstorableFields(
        Array.from({ length: 1000 }, () => '\u0000'),
        '',
      ),
    ).toHaveLength(20);
  });
});
