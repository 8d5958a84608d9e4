import type { FastifyAdapter } from '@nestjs/platform-fastify';
import type { FastifyRequest } from 'fastify';

/**
 * UTF-8 as sent, or where the bytes are not UTF-8, each byte of the ill-formed part as a lone low
 * surrogate (U+DC80-U+DCFF; Python's `surrogateescape`). Fastify's and Nest's parsers decoded bodies
 * lossily: 0xFF, 0xC3 0x28, an overlong `/` (0xC0 0xAF), an encoded surrogate or a four-byte sequence
 * cut short each became U+FFFD, so two different byte strings became one sub-id, click id or key, and
 * a stored value differed from what the sender sent, unnoticed. A lone surrogate is text every service
 * already refuses (unstorable-text.ts at the edge; the event contract per item on ingest, so one bad
 * event of a batch is refused alone): decoding to one turns "not UTF-8" into a refusal naming the
 * field, and only the item that holds the bytes. Distinct byte strings stay distinct strings (each
 * marker maps back to its byte). UTF-8 (nearly every body) is decoded natively in one pass.
 */
export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return STRICT.decode(bytes);
  } catch {
    return decodeMarkingInvalid(bytes);
  }
}

// `ignoreBOM`: a leading U+FEFF stays in the text, as Buffer#toString keeps it (the JSON parser drops it).
const STRICT = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeMarkingInvalid(bytes: Uint8Array): string {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let out = '';
  let runStart = 0;
  let i = 0;
  while (i < buffer.length) {
    const n = sequenceLength(buffer, i);
    if (n > 0) {
      i += n;
      continue;
    }
    out += buffer.toString('utf8', runStart, i) + String.fromCharCode(0xdc00 | buffer[i]);
    runStart = ++i;
  }
  return out + buffer.toString('utf8', runStart);
}

/** Bytes of the well-formed UTF-8 sequence at `i`, or 0 when none starts there (Unicode 15, table 3-7). */
function sequenceLength(b: Buffer, i: number): number {
  const lead = b[i];
  if (lead < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => i + k < b.length && b[i + k] >= lo && b[i + k] <= hi;
  if (lead >= 0xc2 && lead <= 0xdf) return cont(1) ? 2 : 0;
  if (lead >= 0xe0 && lead <= 0xef) {
    // E0: no overlong forms; ED: no surrogates.
    const [lo, hi] = lead === 0xe0 ? [0xa0, 0xbf] : lead === 0xed ? [0x80, 0x9f] : [0x80, 0xbf];
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (lead >= 0xf0 && lead <= 0xf4) {
    // F0: no overlong forms; F4: nothing above U+10FFFF.
    const [lo, hi] = lead === 0xf0 ? [0x90, 0xbf] : lead === 0xf4 ? [0x80, 0x8f] : [0x80, 0xbf];
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
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
  adapter.useBodyParser('application/json', false, { bodyLimit }, (request: FastifyRequest, body: Buffer, done: Done) =>
    json(request, decodeUtf8(body), done),
  );
  adapter.useBodyParser('application/x-www-form-urlencoded', false, { bodyLimit }, (_request: FastifyRequest, body: Buffer, done: Done) =>
    done(null, parseQuery(decodeUtf8(body))),
  );
  adapter.useBodyParser('text/plain', false, { bodyLimit }, (_request: FastifyRequest, body: Buffer, done: Done) =>
    done(null, decodeUtf8(body)),
  );
}

/**
 * The query string's parser (Fastify's `querystringParser`): as Fastify's own (fast-querystring:
 * `&` pairs, the first `=` splits, `+` is a space, a repeated key an array, a null-prototype object),
 * but each value and key decoded through `decodeUtf8`. Fastify's kept a value whose escapes are not
 * UTF-8 as its raw text, so `?subId=%FF` and `?subId=%25FF` were one sub-id (`%FF`), and a single
 * stray `%` left every other escape of the value undecoded (`caf%C3%A9%`). Now an escape is a byte, a
 * `%` without two hex digits stays a `%` (as browsers read it), and bytes that are not UTF-8 become
 * lone surrogates, which the edge refuses naming the field.
 */
export function parseQuery(query: string): Record<string, string | string[]> {
  const result: Record<string, string | string[]> = Object.create(null);
  for (const pair of query.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = decodeComponent(eq < 0 ? pair : pair.slice(0, eq));
    const value = eq < 0 ? '' : decodeComponent(pair.slice(eq + 1));
    const current = result[key];
    if (current === undefined) result[key] = value;
    else if (Array.isArray(current)) current.push(value);
    else result[key] = [current, value];
  }
  return result;
}

const HEX = /^[0-9A-Fa-f]{2}$/;

function decodeComponent(s: string): string {
  const spaced = s.includes('+') ? s.replace(/\+/g, ' ') : s;
  if (!spaced.includes('%')) return spaced;
  // Runs of escapes are bytes, decoded together (a character spans several); anything else is kept as it is.
  let out = '';
  let bytes: number[] = [];
  for (let i = 0; i < spaced.length; i++) {
    if (spaced.charCodeAt(i) === 0x25 && HEX.test(spaced.slice(i + 1, i + 3))) {
      bytes.push(parseInt(spaced.slice(i + 1, i + 3), 16));
      i += 2;
      continue;
    }
    if (bytes.length) out += decodeUtf8(Uint8Array.from(bytes));
    bytes = [];
    out += spaced[i];
  }
  return bytes.length ? out + decodeUtf8(Uint8Array.from(bytes)) : out;
}
