import { FastifyAdapter, RouteConfig } from '@nestjs/platform-fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { parse as fastQuerystring } from 'fast-querystring';

/**
 * UTF-8 as sent, or where the bytes are not UTF-8, each byte of the ill-formed part as two lone low
 * surrogates, U+DCFF then U+DC00 + the byte (U+DC80-U+DCFF; Python's `surrogateescape`, doubled).
 * Fastify's and Nest's parsers decoded bodies lossily: 0xFF, 0xC3 0x28, an overlong `/` (0xC0 0xAF),
 * an encoded surrogate or a four-byte sequence cut short each became U+FFFD, so two different byte
 * strings became one sub-id, click id or key, and a stored value differed from what the sender sent,
 * unnoticed. A lone surrogate is text every service already refuses (unstorable-text.ts at the edge;
 * the event contract per item on ingest, so one bad event of a batch is refused alone): decoding to
 * one turns "not UTF-8" into a refusal naming the field, and only the item that holds the bytes.
 * Two markers, not one: a JSON escape `\ud83d` just before a bad byte pairs with the first (a
 * character nobody sent, U+1F4FF), never with the second, which stays alone and is refused. Distinct
 * byte strings stay distinct strings (each marker pair maps back to its byte).
 *
 * UTF-8 (nearly every body) is decoded natively in one pass. Otherwise one pass copies the valid runs
 * natively and marks only the bad bytes; past `budget.left` bad bytes (a body's share:
 * MAX_INVALID_BYTES) it throws `NotUtf8Error` (400, the whole body refused): a body parsed before any
 * key check or rate limit costs about what a valid one does, whatever it holds.
 */
export function decodeUtf8(bytes: Uint8Array, budget?: InvalidBudget): string {
  try {
    return STRICT.decode(bytes);
  } catch {
    return decodeMarkingInvalid(bytes, budget);
  }
}

/** Bytes that are not UTF-8 a body may hold before it is refused whole (a few bad events of a batch are refused alone, with a 207). */
export const MAX_INVALID_BYTES = 64;

/** What is left of a body's bytes that are not UTF-8; shared by the calls that decode one body. */
export interface InvalidBudget {
  left: number;
}

/** A body with more than MAX_INVALID_BYTES bytes that are not UTF-8: refused whole (400, EdgeErrorsFilter). */
export class NotUtf8Error extends Error {
  readonly statusCode = 400;
  constructor() {
    super(`the body holds more than ${MAX_INVALID_BYTES} bytes that are not UTF-8: send UTF-8 text`);
    this.name = 'NotUtf8Error';
  }
}

// `ignoreBOM`: a leading U+FEFF stays in the text, as Buffer#toString keeps it (the JSON parser drops it).
const STRICT = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The first marker of a bad byte (see decodeUtf8); the second is U+DC00 + the byte. */
const MARK = '\udcff';

function decodeMarkingInvalid(bytes: Uint8Array, budget?: InvalidBudget): string {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const parts: string[] = [];
  let runStart = 0;
  let i = 0;
  while (i < b.length) {
    if (b[i] < 0x80) {
      i++;
      continue;
    }
    const n = sequenceLength(b, i);
    if (n > 0) {
      i += n;
      continue;
    }
    if (budget && --budget.left < 0) throw new NotUtf8Error();
    // Valid runs are copied natively, whole; only the bad byte itself is handled here.
    parts.push(b.toString('utf8', runStart, i), MARK, String.fromCharCode(0xdc00 | b[i]));
    runStart = ++i;
  }
  parts.push(b.toString('utf8', runStart));
  return parts.join('');
}

/** Bytes of the well-formed UTF-8 sequence at `i` (its lead is not ASCII), or 0 when none starts there (Unicode 15, table 3-7). */
function sequenceLength(b: Buffer, i: number): number {
  const lead = b[i];
  const end = b.length;
  if (lead >= 0xc2 && lead <= 0xdf) return i + 1 < end && (b[i + 1] & 0xc0) === 0x80 ? 2 : 0;
  if (lead >= 0xe0 && lead <= 0xef) {
    // E0: no overlong forms; ED: no surrogates.
    const lo = lead === 0xe0 ? 0xa0 : 0x80;
    const hi = lead === 0xed ? 0x9f : 0xbf;
    return i + 2 < end && b[i + 1] >= lo && b[i + 1] <= hi && (b[i + 2] & 0xc0) === 0x80 ? 3 : 0;
  }
  if (lead >= 0xf0 && lead <= 0xf4) {
    // F0: no overlong forms; F4: nothing above U+10FFFF.
    const lo = lead === 0xf0 ? 0x90 : 0x80;
    const hi = lead === 0xf4 ? 0x8f : 0xbf;
    return i + 3 < end && b[i + 1] >= lo && b[i + 1] <= hi && (b[i + 2] & 0xc0) === 0x80 && (b[i + 3] & 0xc0) === 0x80 ? 4 : 0;
  }
  return 0;
}

type Done = (error: Error | null, body?: unknown) => void;

/**
 * The body parsers of every service, in place of Fastify's and Nest's (which decode lossily), each
 * through `decodeUtf8`: JSON, forms and plain text, the only bodies the services take (any other
 * content type is answered 415), so every body reaches the routes as strings, arrays and objects
 * that `refuseUnstorableText` walks, never as a Buffer. Registering them here also stops Nest from
 * registering its own at `init()`.
 */
export function registerUtf8BodyParsers(adapter: FastifyAdapter, bodyLimit: number): void {
  const fastify = adapter.getInstance();
  const json = fastify.getDefaultJsonParser('error', 'error');
  // Each body has its own budget of bytes that are not UTF-8 (decodeUtf8); past it, the whole body is refused.
  const decoded = (body: Buffer, done: Done, then: (text: string) => void) => {
    let text: string;
    try {
      text = decodeUtf8(body, { left: MAX_INVALID_BYTES });
    } catch (e) {
      return done(e as Error);
    }
    then(text);
  };
  adapter.useBodyParser('application/json', false, { bodyLimit }, (request: FastifyRequest, body: Buffer, done: Done) =>
    decoded(body, done, (text) => json(request, text, done)),
  );
  adapter.useBodyParser('application/x-www-form-urlencoded', false, { bodyLimit }, (_request: FastifyRequest, body: Buffer, done: Done) => {
    // A form's escapes are bytes too: the raw bytes and the escapes share one budget.
    const budget = { left: MAX_INVALID_BYTES };
    try {
      done(null, parseQuery(decodeUtf8(body, budget), budget));
    } catch (e) {
      done(e as Error);
    }
  });
  adapter.useBodyParser('text/plain', false, { bodyLimit }, (_request: FastifyRequest, body: Buffer, done: Done) =>
    decoded(body, done, (text) => done(null, text)),
  );
}

/**
 * The query string's parser (Fastify's `querystringParser`): as Fastify's own (fast-querystring:
 * `&` pairs, the first `=` splits, `+` is a space, a repeated key an array, a null-prototype object),
 * but each value and key decoded through `decodeUtf8`. Fastify's kept a value whose escapes are not
 * UTF-8 as its raw text, so `?subId=%FF` and `?subId=%25FF` were one sub-id (`%FF`), and a single
 * stray `%` left every other escape of the value undecoded (`caf%C3%A9%`). Now an escape is a byte, a
 * `%` without two hex digits stays a `%` (as browsers read it), and bytes that are not UTF-8 become
 * lone surrogates, which the edge refuses naming the field. (The tracking link and the postback read
 * their query as Fastify did: `LenientQuery`.) A form body passes its budget (decodeUtf8); a query
 * string needs none (the request line is at most 16 KB).
 */
export function parseQuery(query: string, budget?: InvalidBudget): Record<string, string | string[]> {
  const result: Record<string, string | string[]> = Object.create(null);
  for (const pair of query.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = decodeComponent(eq < 0 ? pair : pair.slice(0, eq), budget);
    const value = eq < 0 ? '' : decodeComponent(pair.slice(eq + 1), budget);
    const current = result[key];
    if (current === undefined) result[key] = value;
    else if (Array.isArray(current)) current.push(value);
    else result[key] = [current, value];
  }
  return result;
}

/** A run of escapes: bytes, decoded together (a character spans several). */
const ESCAPES = /(?:%[0-9A-Fa-f]{2})+/g;

function decodeComponent(s: string, budget?: InvalidBudget): string {
  const spaced = s.includes('+') ? s.replace(/\+/g, ' ') : s;
  if (!spaced.includes('%')) return spaced;
  // One native pass: anything but a run of escapes (a stray % included) is kept as it is.
  return spaced.replace(ESCAPES, (run) => decodeUtf8(escapedBytes(run), budget));
}

/** The bytes of a run of escapes (`%C3%A9`). */
function escapedBytes(run: string): Uint8Array {
  const bytes = new Uint8Array(run.length / 3);
  for (let i = 0, k = 1; i < bytes.length; i++, k += 3) bytes[i] = (hexDigit(run.charCodeAt(k)) << 4) | hexDigit(run.charCodeAt(k + 1));
  return bytes;
}

/** A hex digit's value (the run matched ESCAPES). */
function hexDigit(c: number): number {
  return c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57;
}

/** The route config key of `LenientQuery` (read by the hook of `readLenientQueries`). */
const LENIENT_QUERY = 'arbiterLenientQuery';

/**
 * Marks a route whose query string a partner's system or a visitor's browser writes, and which must
 * never be refused for its encoding: the tracking link (a visitor is always redirected and the click
 * recorded, DESIGN §2, §12) and the advertiser's postback. Its query is read as Fastify read it
 * (fast-querystring): a value whose escapes are not UTF-8 (`caf%E9` from JS `escape()`, `truncated%C3`)
 * or that holds a stray `%` (`25%Cashback`) is kept as its raw text, as sent, and every other escape
 * decodes. The price, accepted there: `?sub=%FF` and `?sub=%25FF` are one sub-id (`%FF`). Any mapping
 * of an undecodable escape to storable text collides with the text some valid escape decodes to; the
 * raw text is the collision main always had, and keeps every existing link's sub-ids as they were.
 */
export const LenientQuery = (): MethodDecorator => RouteConfig({ [LENIENT_QUERY]: true });

/** Reads the query of `LenientQuery` routes as fast-querystring does, in place of `parseQuery`'s. */
export function readLenientQueries(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', (request: FastifyRequest, _reply: FastifyReply, done: () => void) => {
    if ((request.routeOptions.config as unknown as Record<string, unknown> | undefined)?.[LENIENT_QUERY] === true) {
      const q = request.url.indexOf('?');
      (request as { query: unknown }).query = fastQuerystring(q < 0 ? '' : request.url.slice(q + 1));
    }
    done();
  });
}
