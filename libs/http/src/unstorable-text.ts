import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { FieldError } from '@app/contracts';

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
 * (an emoji beyond the BMP) is well-formed and passes untouched.
 */
export function refuseUnstorableText(fastify: FastifyInstance): void {
  fastify.addHook('preValidation', (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    // The common case (nothing unstorable) walks the values without building a single field path:
    // the gateway sees batches of a thousand events.
    if (!hasUnstorable(request.params) && !hasUnstorable(request.query) && !hasUnstorable(request.body)) return done();
    const errors = [
      ...unstorableFields(request.params, ''),
      ...unstorableFields(request.query, ''),
      ...unstorableFields(request.body, ''),
    ].slice(0, MAX_ERRORS);
    void reply.code(400).send({
      error: 'validation_failed',
      message: errors.map((e) => `${e.field || 'body'} ${e.message}`).join('; '),
      errors,
    });
  });
}

const NUL_MESSAGE = 'must not contain the NUL character (U+0000)';
const SURROGATE_MESSAGE = 'must not contain an unpaired surrogate (U+D800-U+DFFF): not Unicode text';
const MAX_ERRORS = 20;

// `String.prototype.isWellFormed` (Node 20; ES2024, newer than this project's TS lib): false exactly
// when a surrogate has no partner. Native, so the gateway's common case stays a scan per string.
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
    const v = stack.pop();
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
 * Where `value` holds a NUL or an unpaired surrogate in a string or a key, as field paths like the
 * validators' (`[0].offerId`), at most `MAX_ERRORS`. Iterative: a body may nest thousands of levels
 * deep (the parser allows it; recursion would not).
 */
export function unstorableFields(value: unknown, root: string): FieldError[] {
  const found: FieldError[] = [];
  const stack: [unknown, string][] = [[value, root]];
  while (stack.length && found.length < MAX_ERRORS) {
    const [v, path] = stack.pop()!;
    if (typeof v === 'string') {
      const message = problem(v);
      if (message) found.push({ field: path, message });
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], `${path}[${i}]`]);
    } else if (v && typeof v === 'object') {
      for (const key of Object.keys(v).reverse()) {
        const field = path ? `${path}.${key}` : key;
        const message = problem(key);
        if (message) found.push({ field, message });
        else stack.push([(v as Record<string, unknown>)[key], field]);
      }
    }
  }
  return found;
}
