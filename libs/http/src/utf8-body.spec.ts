import { Body, Controller, Get, Module, Post, Query } from '@nestjs/common';
import { parse as fastQuerystring } from 'fast-querystring';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import fc from 'fast-check';
import { createHttpApp } from './http-app';
import { EventContractChecksText } from './unstorable-text';
import { LenientQuery, MAX_INVALID_BYTES, decodeUtf8, parseQuery } from './utf8-body';

// `String.prototype.isWellFormed` (Node 20; newer than this project's TS lib).
const wellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed();

const SURROGATE_MESSAGE = 'must not contain an unpaired surrogate (U+D800-U+DFFF) or bytes that are not UTF-8: not Unicode text';

@Controller()
class EchoController {
  @Post('admin')
  admin(@Body() body: unknown) {
    return { got: body };
  }

  @Get('find')
  find(@Query() query: unknown) {
    return { got: query };
  }

  @Get('link')
  @LenientQuery()
  link(@Query() query: unknown) {
    return { got: query };
  }

  @Post('events')
  @EventContractChecksText()
  events(@Body() body: unknown) {
    return { got: body };
  }
}

@Module({ controllers: [EchoController] })
class EchoModule {}

/** Raw bytes of a JSON text: `pieces` are JSON text, Buffers spliced in as they are. */
const bytes = (...pieces: (string | number[] | Uint8Array)[]) =>
  Buffer.concat(pieces.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));

// Each is not UTF-8, and Node's lossy decoding (what Fastify's parsers did) turns each into U+FFFD.
const INVALID: [string, number[]][] = [
  ['a byte that is no lead (0xFF)', [0xff]],
  ['a lead byte without its continuation (0xC3 0x28)', [0xc3, 0x28]],
  ['an overlong "/" (0xC0 0xAF)', [0xc0, 0xaf]],
  ['an overlong three-byte NUL (0xE0 0x80 0x80)', [0xe0, 0x80, 0x80]],
  ['an encoded surrogate (0xED 0xA0 0x80)', [0xed, 0xa0, 0x80]],
  ['a code point above U+10FFFF (0xF4 0x90 0x80 0x80)', [0xf4, 0x90, 0x80, 0x80]],
  ['a lone continuation byte (0x80)', [0x80]],
];

describe('decodeUtf8', () => {
  it('decodes UTF-8 exactly as Node does', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (s) => {
        expect(decodeUtf8(Buffer.from(s))).toBe(s);
      }),
      { numRuns: 2000 },
    );
  });

  it('turns each byte of what is not UTF-8 into two lone surrogates, keeping the UTF-8 around it as sent', () => {
    for (const [, seq] of INVALID) {
      const s = decodeUtf8(bytes('"a', seq, 'b\u{1F45F}"'));
      expect(s.startsWith('"a')).toBe(true);
      expect(s.endsWith('b\u{1F45F}"')).toBe(true);
      expect(wellFormed(s)).toBe(false);
    }
    expect(decodeUtf8(Buffer.from([0xf0, 0x9f, 0x91]))).toBe('\udcff\udcf0\udcff\udc9f\udcff\udc91');
    expect(decodeUtf8(Buffer.from([0x61, 0xff, 0xc3, 0xa9, 0x80]))).toBe('a\udcff\udcff\u00e9\udcff\udc80');
  });

  it('refuses, past its budget, a body with more bytes that are not UTF-8 than MAX_INVALID_BYTES, whatever their spread', () => {
    const budget = { left: MAX_INVALID_BYTES };
    expect(() => decodeUtf8(Buffer.alloc(MAX_INVALID_BYTES, 0xff), budget)).not.toThrow();
    expect(() => decodeUtf8(Buffer.from([0xff]), budget)).toThrow(`more than ${MAX_INVALID_BYTES} bytes that are not UTF-8`);
    expect(() => decodeUtf8(Buffer.from('a\u00e9\xff'.repeat(MAX_INVALID_BYTES + 1), 'latin1'), { left: MAX_INVALID_BYTES })).toThrow();
    // Without a budget (a query string, at most 16 KB), every byte is marked.
    expect(decodeUtf8(Buffer.alloc(1000, 0xff))).toBe('\udcff'.repeat(2000));
  });

  it('never maps two byte strings to one string, valid or not', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 12 }), fc.uint8Array({ maxLength: 12 }), (a, b) => {
        if (Buffer.compare(Buffer.from(a), Buffer.from(b)) !== 0) expect(decodeUtf8(Buffer.from(a))).not.toBe(decodeUtf8(Buffer.from(b)));
        // Well-formed exactly when the bytes are UTF-8.
        expect(wellFormed(decodeUtf8(Buffer.from(a)))).toBe(Buffer.from(decodeUtf8(Buffer.from(a))).equals(Buffer.from(a)));
      }),
      { numRuns: 5000 },
    );
  });
});

describe('a JSON body that is not UTF-8 (the services’ own parsers, createHttpApp)', () => {
  let app: NestFastifyApplication;
  beforeAll(async () => {
    app = await createHttpApp({ module: EchoModule });
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
  });
  afterAll(() => app.close());
  const post = (url: string, payload: Buffer, type = 'application/json') =>
    app.inject({ method: 'POST', url, payload, headers: { 'content-type': type } });

  it.each(INVALID)('refuses %s in a value or a key, naming the field, on any other endpoint', async (_, seq) => {
    for (const body of [bytes('{"name":"Sho', seq, 'es"}'), bytes('{"ok":"x","n', seq, '":1}')]) {
      const res = await post('/admin', body);
      expect(res.statusCode).toBe(400);
      expect(res.json().error).toBe('validation_failed');
      expect(res.json().errors[0].message).toBe(SURROGATE_MESSAGE);
    }
    expect((await post('/admin', bytes('{"name":"Sho', seq, 'es"}'))).json().errors[0].field).toBe('name');
  });

  it('refuses a raw byte that is not UTF-8 after an escaped high surrogate: they never pair into a character nobody sent', async () => {
    for (const [escape, byte] of [
      ['\\ud83d', 0x80],
      ['\\udbff', 0xff],
    ] as const) {
      for (const url of ['/admin', '/events']) {
        const res = await post(url, bytes(`{"name":"x${escape}`, [byte], '"}'));
        if (url === '/events') expect(wellFormed(res.json().got.name as string)).toBe(false);
        else expect(res.json().errors).toEqual([{ field: 'name', message: SURROGATE_MESSAGE }]);
      }
    }
  });

  it('refuses a body with more than MAX_INVALID_BYTES bytes that are not UTF-8 whole (400), on an event route too', async () => {
    const junk = (n: number) => bytes('["', Array(n).fill(0xff), '"]');
    const refused = await post('/events', junk(MAX_INVALID_BYTES + 1));
    expect(refused.statusCode).toBe(400);
    // (As the services answer it, EdgeErrorsFilter: `{ error: 'bad_request', message }`.)
    expect(refused.json().message).toBe(`the body holds more than ${MAX_INVALID_BYTES} bytes that are not UTF-8: send UTF-8 text`);
    // Spread over many events, alternating with valid bytes: the same.
    const spread = bytes(
      '[',
      ...Array.from({ length: MAX_INVALID_BYTES + 1 }, (_, i) => bytes(i ? ',' : '', '{"ua":"a', [0xc3], 'b"}')),
      ']',
    );
    expect((await post('/events', spread)).statusCode).toBe(400);
    expect((await post('/events', junk(MAX_INVALID_BYTES))).statusCode).toBe(201);
    const whole = (res: { json(): { message: string } }) => res.json().message.includes('bytes that are not UTF-8: send UTF-8 text');
    expect(whole(await post('/admin', bytes(Array(MAX_INVALID_BYTES + 1).fill(0xff)), 'text/plain'))).toBe(true);
    const form = (body: string) => post('/admin', Buffer.from(body), 'application/x-www-form-urlencoded');
    expect(whole(await form(`a=${'%E9'.repeat(MAX_INVALID_BYTES + 1)}`))).toBe(true);
    expect(whole(await form(Array.from({ length: MAX_INVALID_BYTES + 1 }, () => 'a=%E9').join('&')))).toBe(true);
    // Raw bytes and escapes share the budget.
    expect(whole(await post('/admin', bytes(`a=${'%E9'.repeat(MAX_INVALID_BYTES)}&b=`, [0xff]), 'application/x-www-form-urlencoded'))).toBe(
      true,
    );
    expect((await form(`a=${'%E9'.repeat(MAX_INVALID_BYTES)}`)).json().error).toBe('validation_failed');
  });

  it('refuses a four-byte sequence cut short at the end of a string', async () => {
    const res = await post('/admin', bytes('{"name":"Shoes', [0xf0, 0x9f, 0x91], '"}'));
    expect(res.statusCode).toBe(400);
    expect(res.json().errors).toEqual([{ field: 'name', message: SURROGATE_MESSAGE }]);
  });

  it('keeps text sent as UTF-8 exactly, U+FFFD and emoji included', async () => {
    const res = await post('/admin', Buffer.from(JSON.stringify({ name: 'Sho\ufffdes \u{1F45F}', ['k\u00e9']: 'caf\u00e9' })));
    expect(res.statusCode).toBe(201);
    expect(res.json().got).toEqual({ name: 'Sho\ufffdes \u{1F45F}', ['k\u00e9']: 'caf\u00e9' });
  });

  it('leaves an event route to its per-item contract: only the item with the bytes carries them, the others are as sent', async () => {
    const res = await post('/events', bytes('[{"ua":"good \u00e9"},{"ua":"bad', [0xc3, 0x28], '"},{"ua":"also good"}]'));
    expect(res.statusCode).toBe(201);
    const [good, bad, alsoGood] = res.json().got;
    expect(good).toEqual({ ua: 'good \u00e9' });
    expect(alsoGood).toEqual({ ua: 'also good' });
    // What the contract refuses (events.schema.ts STORABLE): the bad item is refused alone, with a 207.
    expect(wellFormed(bad.ua as string)).toBe(false);
  });

  it('refuses bytes that are not UTF-8 in a form body and a text body too', async () => {
    expect((await post('/admin', bytes('name=Sho', [0xff], 'es'), 'application/x-www-form-urlencoded')).statusCode).toBe(400);
    expect((await post('/admin', bytes('Sho', [0xff], 'es'), 'text/plain')).statusCode).toBe(400);
    expect((await post('/admin', Buffer.from('name=Sho%FFes'), 'application/x-www-form-urlencoded')).statusCode).toBe(400);
    expect((await post('/admin', Buffer.from('name=Sho%C3%A9s'), 'application/x-www-form-urlencoded')).json().got).toEqual({
      name: 'Sho\u00e9s',
    });
  });
});

describe('a body no parser of the services turns into text', () => {
  let app: NestFastifyApplication;
  beforeAll(async () => {
    app = await createHttpApp({ module: EchoModule });
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
  });
  afterAll(() => app.close());

  it.each(['application/octet-stream', 'application/x-protobuf', 'multipart/form-data; boundary=x', 'image/png'])(
    'is refused (415) as %s, so no route gets a Buffer',
    async (type) => {
      const res = await app.inject({
        method: 'POST',
        url: '/admin',
        payload: Buffer.from([0x00, 0xff]),
        headers: { 'content-type': type },
      });
      expect(res.statusCode).toBe(415);
    },
  );
});

/**
 * The query string: Fastify's parser kept a value whose escapes are not UTF-8 as its raw text, so
 * `?subId=%FF` and `?subId=%25FF` were one sub-id (`%FF`), and one stray `%` left every other escape
 * of the value undecoded (`caf%C3%A9%`).
 */
describe('parseQuery', () => {
  it('parses as Fastify did whatever decodes: escapes, +, repeated keys, bare keys, empty pairs', () => {
    const part = fc.string({ unit: 'grapheme', maxLength: 6 }).map((s) => encodeURIComponent(s).replace(/%20/g, '+'));
    const query = fc
      .array(fc.tuple(part, fc.option(part)), { maxLength: 5 })
      .map((pairs) => pairs.map(([k, v]) => (v === null ? k : `${k}=${v}`)).join('&'));
    fc.assert(
      fc.property(query, (q) => {
        expect(parseQuery(q)).toEqual({ ...fastQuerystring(q) });
      }),
      { numRuns: 3000 },
    );
    expect(parseQuery('a=1&a=2&&b&=x&c=d=e')).toEqual({ a: ['1', '2'], b: '', '': 'x', c: 'd=e' });
  });

  it('decodes each escape, a stray % kept as it is, and what is not UTF-8 as lone surrogates', () => {
    expect(parseQuery('a=caf%C3%A9%&b=50%off&c=%25FF')).toEqual({ a: 'caf\u00e9%', b: '50%off', c: '%FF' });
    expect(parseQuery('a=%FF')).toEqual({ a: '\udcff\udcff' });
    expect(parseQuery('a=%C3%28&b=%F0%9F%91&k%FF=1')).toEqual({
      a: '\udcff\udcc3(',
      b: '\udcff\udcf0\udcff\udc9f\udcff\udc91',
      ['k\udcff\udcff']: '1',
    });
    expect(parseQuery('a=%%C3%A9%4&b=%e9%')).toEqual({ a: '%\u00e9%4', b: '\udcff\udce9%' });
  });
});

describe('a query string that is not UTF-8 (createHttpApp)', () => {
  let app: NestFastifyApplication;
  beforeAll(async () => {
    app = await createHttpApp({ module: EchoModule });
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
  });
  afterAll(() => app.close());
  const get = (query: string) => app.inject({ method: 'GET', url: `/find?${query}` });

  it.each(['subId=%FF', 'subId=%C3%28', 'subId=%C0%AF', 'subId=%ED%A0%80', 'subId=spring%F0%9F%91'])(
    'refuses %s, naming the field',
    async (query) => {
      const res = await get(query);
      expect(res.statusCode).toBe(400);
      expect(res.json().errors).toEqual([{ field: 'subId', message: SURROGATE_MESSAGE }]);
    },
  );

  it('reads the query of a LenientQuery route (tracking link, postback) as Fastify did: never refused for its encoding', async () => {
    const link = async (query: string) => {
      const res = await app.inject({ method: 'GET', url: `/link?${query}` });
      expect(res.statusCode).toBe(200);
      return res.json().got;
    };
    expect(await link('utm_campaign=caf%E9&sub=truncated%C3')).toEqual({ utm_campaign: 'caf%E9', sub: 'truncated%C3' });
    expect(await link('sub=25%Cashback&sub2=15%ACME&sub3=caf%C3%A9')).toEqual({ sub: '25%Cashback', sub2: '15%ACME', sub3: 'caf\u00e9' });
    // The other routes still refuse them.
    expect((await get('utm_campaign=caf%E9')).statusCode).toBe(400);
  });

  it('keeps what was sent: %25FF is the text %FF, an emoji is itself', async () => {
    expect((await get('subId=%25FF&ua=a+b%F0%9F%91%9F')).json().got).toEqual({ subId: '%FF', ua: 'a b\u{1F45F}' });
  });
});
