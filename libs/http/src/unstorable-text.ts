import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RouteConfig } from '@nestjs/platform-fastify';
import { FieldError, NUL_MESSAGE, SURROGATE_MESSAGE, keyStep } from '@app/contracts';
import { decodeUtf8 } from './utf8-body';

/** The route config key of `EventContractChecksText` (read by the hook of `refuseUnstorableText`). */
const CONTRACT_CHECKS_TEXT = 'arbiterContractChecksText';

/**
 * Marks an event-ingest route whose per-item contract (events.schema.ts, STORABLE) already refuses NUL
 * and unpaired surrogates in every field and, with `additionalProperties: false`, every unknown key:
 * the edge leaves its body to that contract. Refused at the edge, one bad event of a batch would
 * refuse the whole batch (400) instead of the documented 207 with that item rejected, and every
 * event would be walked twice.
 */
export const EventContractChecksText = (): MethodDecorator => RouteConfig({ [CONTRACT_CHECKS_TEXT]: true });

/**
 * Every service refuses, at the edge, text PostgreSQL cannot store, in path parameters, the query
 * string and JSON bodies (values and keys) alike, field by field, before any route runs:
 * - a NUL (U+0000): text columns and jsonb refuse it, so it made lookups answer 500 and, in an
 *   event the gateway had accepted, made the recorder dead-letter it, accepted but never stored;
 * - an unpaired surrogate (U+D800-U+DFFF alone; JSON spells it `\ud800`): jsonb refuses it (a 500,
 *   or an accepted event dead-lettered), and node-postgres encodes it for a text column as U+FFFD,
 *   so a catalog name, a key label or a webhook URL was silently stored as text nobody sent.
 * One hook, not a pattern in every schema: it covers the bodies no schema describes string by
 * string (rule-set layers, backtest and shadow candidates) and every endpoint added later. A pair
 * (an emoji beyond the BMP) is well-formed and passes untouched. Routes marked
 * `EventContractChecksText` (event ingest) are left to their per-item contract.
 *
 * The answer is shaped like ingest's 400: at most `MAX_ERRORS` errors, then an `and N more errors`
 * row; `message` at most 2,000 characters; each key of a field path at most 64 characters, odd keys
 * JSON-quoted (`["a.b"]`, `["\u0000"]`), so the answer stays small whatever the request holds.
 */
export function refuseUnstorableText(fastify: FastifyInstance): void {
  fastify.addHook('preValidation', (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    if ((request.routeOptions.config as unknown as Record<string, unknown> | undefined)?.[CONTRACT_CHECKS_TEXT] === true) return done();
    // The common case (nothing unstorable) walks the values without building a single field path.
    if (!hasUnstorable(request.params) && !hasUnstorable(request.query) && !hasUnstorable(request.body)) return done();
    const errors = unstorableFields([request.params, request.query, request.body]);
    void reply.code(400).send({
      error: 'validation_failed',
      // As the schema pipe names a whole body (`body`); capped as ingest caps its message.
      message: errors
        .map((e) => `${e.field || 'body'} ${e.message}`)
        .join('; ')
        .slice(0, MAX_MESSAGE_CHARS),
      errors,
    });
  });
}

/** As ingest's 400 (ingest.controller.ts batchRefusal). */
const MAX_ERRORS = 100;
const MAX_MESSAGE_CHARS = 2000;

// `String.prototype.isWellFormed` (Node 20; ES2024, newer than this project's TS lib): false exactly
// when a surrogate has no partner. Native, so the common case stays a scan per string.
const isWellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed();

/** Why `s` cannot be stored, or undefined when it can. */
function problem(s: string): string | undefined {
  if (s.includes('\u0000')) return NUL_MESSAGE;
  if (!isWellFormed(s)) return SURROGATE_MESSAGE;
  return undefined;
}

/** Whether `value` holds a NUL or an unpaired surrogate in any string or key (iterative, like `unstorableFields`). */
export function hasUnstorable(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = asText(stack.pop());
    if (typeof v === 'string') {
      if (problem(v)) return true;
    } else if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) stack.push(v[i]);
    } else if (v && typeof v === 'object') {
      for (const key in v) {
        if (!Object.prototype.hasOwnProperty.call(v, key)) continue;
        if (problem(key)) return true;
        stack.push((v as Record<string, unknown>)[key]);
      }
    }
  }
  return false;
}

/**
 * Bytes (a Buffer) as the text they would be stored as: no parser of the services yields one (each
 * decodes to strings, utf8-body.ts; other content types are answered 415), but a parser added
 * later without decoding would otherwise carry text past this check as an object of numbered bytes.
 * A route that means to take binary must say so here.
 */
const asText = (v: unknown): unknown => (ArrayBuffer.isView(v) ? decodeUtf8(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)) : v);

/**
 * Where the values hold a NUL or an unpaired surrogate in a string or a key, as field paths like the
 * validators' (`[0].offerId`), each value's paths from its root (params, query, body): at most
 * `MAX_ERRORS`, then an `and N more errors` row counting the rest. Iterative: a body may nest
 * thousands of levels deep (the parser allows it; recursion would not). A path longer than
 * `MAX_MESSAGE_CHARS` characters (a deep body) is cut (`…`).
 */
export function unstorableFields(values: unknown[]): FieldError[] {
  const found: FieldError[] = [];
  let more = 0;
  const add = (path: string, message: string) => {
    if (found.length < MAX_ERRORS)
      found.push({ field: path.length > MAX_MESSAGE_CHARS ? `${path.slice(0, MAX_MESSAGE_CHARS)}…` : path, message });
    else more++;
  };
  for (const value of values) {
    const stack: [unknown, string][] = [[value, '']];
    while (stack.length) {
      const [raw, path] = stack.pop()!;
      const v = asText(raw);
      if (typeof v === 'string') {
        const message = problem(v);
        if (message) add(path, message);
      } else if (Array.isArray(v)) {
        for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], `${path}[${i}]`]);
      } else if (v && typeof v === 'object') {
        for (const key of Object.keys(v).reverse()) {
          const field = keyStep(path, key);
          const message = problem(key);
          if (message) add(field, message);
          else stack.push([(v as Record<string, unknown>)[key], field]);
        }
      }
    }
  }
  return more ? [...found, { field: '', message: `and ${more} more errors` }] : found;
}
