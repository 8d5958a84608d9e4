import Ajv, { ErrorObject, ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { fullFormats } from 'ajv-formats/dist/formats';
import { Static, TSchema } from '@sinclair/typebox';

/** One problem with one field, as an API client or a DLQ reader sees it. */
export interface FieldError {
  /** Dotted path of the field (`subIds.sub1`, `[3].amount`); empty for the whole object. */
  field: string;
  message: string;
}

export type Validation<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

/**
 * The string formats of every validator in the engine (events, API bodies, query strings): those of
 * ajv-formats, but a `date-time` must also be an instant a JavaScript Date and PostgreSQL can hold.
 * RFC 3339 allows a leap second (`23:59:60`), which no Date can, and year 0000, which PostgreSQL has
 * not: passed on, they became 500s or events accepted and never stored.
 */
export function addFormatsTo(target: Ajv, names: ('date-time' | 'uri')[]): Ajv {
  addFormats(
    target,
    names.filter((n) => n !== 'date-time'),
  );
  if (names.includes('date-time')) {
    const rfc3339 = fullFormats['date-time'] as { validate: (s: string) => boolean; compare: (a: string, b: string) => number | undefined };
    target.addFormat('date-time', {
      type: 'string',
      validate: (s: string) => isCanonicalInstant(s) || (rfc3339.validate(s) && !s.startsWith('0000') && !Number.isNaN(Date.parse(s))),
      compare: rfc3339.compare,
    });
  }
  return target;
}

const DAYS_IN_MONTH = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** The digits of `s` from `from` to `to` (exclusive) as a number; -1 if any is not a digit. */
function digits(s: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/**
 * Whether `s` is an instant spelled as the engine spells every time it writes (`toISOString`:
 * `YYYY-MM-DDTHH:mm:ss.sssZ`, years 0001-9999) and one the full `date-time` check accepts. Every
 * message on the streams carries two or three such times, and the full check (RFC 3339 regexes,
 * then `Date.parse`) cost 1.6 µs each; false only means "not this spelling": the full check decides.
 */
export function isCanonicalInstant(s: string): boolean {
  if (s.length !== 24) return false;
  const c = (i: number) => s.charCodeAt(i);
  // - - T : : . Z
  if (c(4) !== 45 || c(7) !== 45 || c(10) !== 84 || c(13) !== 58 || c(16) !== 58 || c(19) !== 46 || c(23) !== 90) return false;
  const year = digits(s, 0, 4);
  const month = digits(s, 5, 7);
  const day = digits(s, 8, 10);
  if (year < 1 || month < 1 || month > 12 || day < 1) return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (day > (month === 2 && leap ? 29 : DAYS_IN_MONTH[month])) return false;
  const hour = digits(s, 11, 13);
  const minute = digits(s, 14, 16);
  const second = digits(s, 17, 19);
  // No leap second (23:59:60): no Date holds one.
  return hour >= 0 && hour <= 23 && minute >= 0 && minute <= 59 && second >= 0 && second <= 59 && digits(s, 20, 23) >= 0;
}

const ajv = addFormatsTo(new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }), ['date-time', 'uri']);

/** A schema compiled once; `check` answers with the typed value or field-level errors. */
export class CompiledSchema<S extends TSchema> {
  private readonly fn: ValidateFunction;

  constructor(readonly schema: S) {
    this.fn = ajv.compile(schema);
  }

  check(value: unknown): Validation<Static<S>> {
    if (this.fn(value)) return { ok: true, value: value as Static<S> };
    const errors = this.fn.errors ?? [];
    for (const e of errors) if (e.keyword === 'pattern') e.message = unstorableTextMessage(value, e.instancePath) ?? e.message;
    return { ok: false, errors: toFieldErrors(errors) };
  }
}

/** The words for a NUL, in the event contract (its STORABLE patterns) and at every service's edge alike. */
export const NUL_MESSAGE = 'must not contain the NUL character (U+0000)';
/**
 * The words for an unpaired surrogate, in the event contract and at every service's edge alike; bytes
 * of a body that are not UTF-8 reach both as unpaired surrogates (libs/http utf8-body.ts).
 */
export const SURROGATE_MESSAGE = 'must not contain an unpaired surrogate (U+D800-U+DFFF) or bytes that are not UTF-8: not Unicode text';

/**
 * Why the string at `pointer` in `value` cannot be stored (NUL, unpaired surrogate), if so: a pattern
 * refused it, and its `must match pattern "^[^\x00\uD800-\uDFFF]*$"` would tell a sender less than the
 * edge says of the same text on every other endpoint.
 */
function unstorableTextMessage(value: unknown, pointer: string): string | undefined {
  let v = value;
  for (const part of pointer.split('/').slice(1)) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  if (typeof v !== 'string') return undefined;
  if (v.includes('\u0000')) return NUL_MESSAGE;
  if (!(v as unknown as { isWellFormed(): boolean }).isWellFormed()) return SURROGATE_MESSAGE;
  return undefined;
}

const cache = new WeakMap<TSchema, CompiledSchema<TSchema>>();

/** The compiled validator for a schema (compiled on first use, then shared). */
export function compiled<S extends TSchema>(schema: S): CompiledSchema<S> {
  let found = cache.get(schema);
  if (!found) {
    found = new CompiledSchema(schema);
    cache.set(schema, found);
  }
  return found as CompiledSchema<S>;
}

function pointerToField(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((path, part) => (/^\d+$/.test(part) ? `${path}[${part}]` : keyStep(path, part)), '');
}

/** Characters of one key shown in a field path; longer keys end in `…`. */
const MAX_KEY_CHARS = 64;
const PLAIN_KEY = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/**
 * One key as a step of a field path, in every 400 (the contracts' field errors, the edge's
 * unstorable text): a plain name as itself (`.name`), any other (dots, spaces, `;`, control
 * characters, NUL, lone surrogates, digits first) JSON-quoted in brackets (`["a.b"]`), so two
 * different bodies never name the same field and a key cannot forge the message's structure (a
 * second error, a nested field) or put a raw control character in a log line; cut to
 * `MAX_KEY_CHARS` characters first (`…`).
 */
export function keyStep(path: string, key: string): string {
  const shown = key.length > MAX_KEY_CHARS ? `${key.slice(0, MAX_KEY_CHARS)}…` : key;
  if (PLAIN_KEY.test(key)) return path ? `${path}.${shown}` : shown;
  return `${path}[${JSON.stringify(shown)}]`;
}

/** At most this many field errors per value, fields named in at most this many characters: a body of a million unknown keys gets a small 400. */
export const MAX_FIELD_ERRORS = 20;
const MAX_FIELD_CHARS = 100;

/** Turns ajv's errors into one readable error per field, dropping union noise; capped (`MAX_FIELD_ERRORS`). */
export function toFieldErrors(errors: ErrorObject[]): FieldError[] {
  const all = fieldErrors(errors);
  if (all.length <= MAX_FIELD_ERRORS) return all;
  return [...all.slice(0, MAX_FIELD_ERRORS), { field: '', message: `and ${all.length - MAX_FIELD_ERRORS} more errors` }];
}

function fieldErrors(errors: ErrorObject[]): FieldError[] {
  const seen = new Map<string, string>();
  for (const e of errors) {
    let field = pointerToField(e.instancePath);
    let message = e.message ?? 'is invalid';
    if (e.keyword === 'required') {
      field = keyStep(field, String(e.params.missingProperty));
      message = 'is required';
    } else if (e.keyword === 'additionalProperties') {
      field = keyStep(field, String(e.params.additionalProperty));
      message = 'is not a known field';
    } else if (e.keyword === 'const' || e.keyword === 'enum') {
      const allowed = e.params.allowedValue ?? e.params.allowedValues;
      message = `must be ${Array.isArray(allowed) ? `one of ${allowed.join(', ')}` : JSON.stringify(allowed)}`;
    } else if (e.keyword === 'anyOf') {
      // The branch errors already said what is wrong; keep this one only if nothing else did.
      if (!seen.has(field)) seen.set(field, 'does not match any allowed form');
      continue;
    }
    const previous = seen.get(field);
    if (!previous || previous === 'does not match any allowed form') seen.set(field, message);
    else if (!previous.includes(message)) seen.set(field, `${previous}; ${message}`);
  }
  return [...seen].map(([field, message]) => ({
    field: field.length > MAX_FIELD_CHARS ? `${field.slice(0, MAX_FIELD_CHARS)}…` : field,
    message,
  }));
}
