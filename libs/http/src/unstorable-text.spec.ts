import fc from 'fast-check';
import Fastify from 'fastify';
import { keyStep } from '@app/contracts';
import { hasUnstorable, refuseUnstorableText, unstorableFields } from './unstorable-text';

const NUL_MESSAGE = 'must not contain the NUL character (U+0000)';

describe('unstorableFields', () => {
  it.each([
    ['a clean body', { offerId: 'shoes', tags: ['a', 'b'], n: 1, nested: { x: null } }, []],
    ['emoji (surrogate pairs)', { name: 'Shoes \u{1F45F}', flags: ['\u{1F3F3}\u{FE0F}\u{200D}\u{1F308}'] }, []],
    ['a string field', { offerId: 'sh\u0000oes' }, ['offerId']],
    ['an array item', [{ ip: '1.2.3.4' }, { subId: '\u0000' }], ['[1].subId']],
    ['a key', { ['k\u0000']: 1 }, ['["k\\u0000"]']],
    ['a bare string', '\u0000', ['']],
    ['a lone high surrogate', { name: 'Sho\ud800es' }, ['name']],
    ['a lone low surrogate', { note: 'Shoes\udc00' }, ['note']],
    ['a reversed pair', { ruleset: { description: '\udc00\ud800' } }, ['ruleset.description']],
    ['a key with a lone surrogate', { ['\ud83d']: 1 }, ['["\\ud83d"]']],
    // No parser of the services makes one (utf8-body.ts); a parser added without one still gets its text checked.
    ['a Buffer holding a NUL', { file: Buffer.from('a\u0000b') }, ['file']],
    ['a Buffer that is not UTF-8', Buffer.from([0x61, 0xff]), ['']],
    ['a Buffer of UTF-8 text', { file: Buffer.from('caf\u00e9 \u{1F45F}') }, []],
  ])('finds unstorable text in %s', (_, value, fields) => {
    expect(unstorableFields([value]).map((e) => e.field)).toEqual(fields);
    expect(hasUnstorable(value)).toBe(fields.length > 0);
  });

  it('says which of the two it found, in the words of the event contract', () => {
    expect(unstorableFields([{ a: 'x\u0000', b: 'x\ud800' }])).toEqual([
      { field: 'a', message: NUL_MESSAGE },
      { field: 'b', message: 'must not contain an unpaired surrogate (U+D800-U+DFFF) or bytes that are not UTF-8: not Unicode text' },
    ]);
  });

  it('flags a string exactly when PostgreSQL could not store it as sent', () => {
    // No NUL, and no code unit left a surrogate once pairs are read as one code point (the `u` flag).
    const storable = (s: string) => !s.includes('\u0000') && !/\p{Surrogate}/u.test(s);
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => {
        expect(hasUnstorable({ s })).toBe(!storable(s));
        expect(unstorableFields([{ s }]).length).toBe(storable(s) ? 0 : 1);
      }),
      { numRuns: 5000 },
    );
  });

  it('walks bodies nested far deeper than the call stack, and cuts the path it names', () => {
    let deep: unknown = '\ud800';
    for (let i = 0; i < 200_000; i++) deep = [deep];
    const [found] = unstorableFields([deep]);
    expect(found.field).toHaveLength(2001);
    expect(hasUnstorable(deep)).toBe(true);
  });

  it('names at most 100 fields, then counts the others as ingest does', () => {
    const errors = unstorableFields([Array.from({ length: 1000 }, () => '\u0000')]);
    expect(errors).toHaveLength(101);
    expect(errors[100]).toEqual({ field: '', message: 'and 900 more errors' });
  });

  it('quotes keys that are not plain names, so two bodies never name one field, and cuts long ones', () => {
    expect(unstorableFields([{ 'a.b': '\u0000' }, { a: { b: '\u0000' } }]).map((e) => e.field)).toEqual(['["a.b"]', 'a.b']);
    expect(keyStep('x', 'line\nbreak')).toBe('x["line\\nbreak"]');
    expect(keyStep('', `${'k'.repeat(200)}`)).toBe(`${'k'.repeat(64)}…`);
    expect(keyStep('', '0')).toBe('["0"]');
  });
});

describe('refuseUnstorableText', () => {
  const app = Fastify({ bodyLimit: 20_000_000 });
  refuseUnstorableText(app);
  app.post('/admin', async () => ({ ok: true }));
  app.post('/events', { config: { arbiterContractChecksText: true } as never }, async (request) => ({ got: request.body }));
  beforeAll(() => app.ready());
  afterAll(() => app.close());
  const post = (url: string, body: unknown) =>
    app.inject({ method: 'POST', url, payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

  it('answers a small 400 whatever the request holds: 20 keys of 200 KB ending in NUL', async () => {
    const big = 'k'.repeat(200_000);
    const res = await post('/admin', Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`${big}${i}\u0000`, 1])));
    expect(res.statusCode).toBe(400);
    expect(res.body.length).toBeLessThan(10_000);
    const body = res.json();
    expect(body.errors).toHaveLength(20);
    expect(body.errors[0]).toEqual({ field: `["${'k'.repeat(64)}…"]`, message: NUL_MESSAGE });
    expect(body.message.length).toBeLessThanOrEqual(2000);
  });

  it('leaves a route whose event contract checks text itself to that contract', async () => {
    const res = await post('/events', [{ ua: 'ok' }, { ua: 'x\ud800' }]);
    expect(res.statusCode).toBe(200);
    expect(res.json().got[1].ua).toBe('x\ud800');
    expect((await post('/admin', [{ ua: 'ok' }, { ua: 'x\ud800' }])).statusCode).toBe(400);
  });
});
