import { hasNul, nulFields } from './nul-characters';

describe('nulFields', () => {
  it.each([
    ['a clean body', { offerId: 'shoes', tags: ['a', 'b'], n: 1, nested: { x: null } }, []],
    ['a string field', { offerId: 'sh\u0000oes' }, ['offerId']],
    ['an array item', [{ ip: '1.2.3.4' }, { subId: '\u0000' }], ['[1].subId']],
    ['a key', { ['k\u0000']: 1 }, ['k\u0000']],
    ['a bare string', '\u0000', ['']],
  ])('finds NULs in %s', (_, value, fields) => {
    expect(nulFields(value, '').map((e) => e.field)).toEqual(fields);
    expect(hasNul(value)).toBe(fields.length > 0);
  });

  it('walks bodies nested far deeper than the call stack', () => {
    let deep: unknown = '\u0000';
    for (let i = 0; i < 200_000; i++) deep = [deep];
    expect(nulFields(deep, '')).toHaveLength(1);
    expect(hasNul(deep)).toBe(true);
  });
});
