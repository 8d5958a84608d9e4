/**
 * The VERDICTS batch body of outcome items (since 2026-12-03, session 7): the scorer encodes each
 * verdict once, remembers those bytes for a redelivery and publishes them; the recorder writes each
 * item's reasons (their jsonb column) from the text it parsed and checked instead of encoding them
 * again. Profiles had both halves as the largest costs outside scoring.
 *
 * Shape: the byte RS (0x1e), then the items separated by LF (0x0a); an item is its outcome's JSON with
 * `reasons` as the number 0 (the head), a TAB (0x09), then the reasons' JSON. `JSON.stringify` writes no
 * raw RS, LF or TAB (inside a string they are escaped as `\u001e`, `\n`, `\t`; it adds no whitespace),
 * so nothing in an outcome, whatever a sender chose for a sub-id or a publisher put in evidence, can
 * move an item's or its reasons' bounds. A reader parses both parts, puts the reasons in the head's
 * place and checks the whole against the contract as before: the reasons text kept for the database is
 * the text that parsed into the checked reasons. For text the scorer wrote (`JSON.stringify` of JS
 * numbers) jsonb reads the same values the check saw. It does not hold for any text: a number spelled
 * `1e-100000`, `-0` or `0.1000000000000000000001` is checked as JS parsed it (0, 0, 0.1) but stored
 * as written, and jsonb refuses the first (dead-lettered). Only the scorer writes VERDICTS (DESIGN §3a),
 * so only a forged message could spell one.
 *
 * The older shapes stay readable: a JSON object (one outcome), a JSON array (several).
 */
export const OUTCOME_ITEMS_MARK = 0x1e;
const MARK = '\u001e';
const ITEM_SEPARATOR = '\n';
const REASONS_SEPARATOR = '\t';

interface WithReasons {
  reasons: unknown;
}

/**
 * An outcome as an item: its JSON with reasons as 0, a TAB, its reasons' JSON. The outcome is the
 * caller's (borrowed for the call: its reasons are put back before it returns, or throws).
 */
export function encodeOutcomeItem(outcome: WithReasons): string {
  return encodeOutcomeItemWith(outcome, outcome.reasons);
}

/**
 * `encodeOutcomeItem` with `reasons` in the reasons part instead of the outcome's own: a click
 * verdict's reasons as the recorder stores them (`StoredReason`).
 */
export function encodeOutcomeItemWith(outcome: WithReasons, reasons: unknown): string {
  const own = outcome.reasons;
  const text = JSON.stringify(reasons);
  if (text === undefined) throw new TypeError('an outcome item needs reasons');
  outcome.reasons = 0;
  try {
    return `${JSON.stringify(outcome)}${REASONS_SEPARATOR}${text}`;
  } finally {
    outcome.reasons = own;
  }
}

/** The body of a message of outcome items (each from `encodeOutcomeItem`). */
export function outcomeItemsBody(items: readonly string[]): string {
  return MARK + items.join(ITEM_SEPARATOR);
}

/** Whether a message body is of outcome items (its first byte is RS). */
export function isOutcomeItemsBody(data: Uint8Array): boolean {
  return data.length > 0 && data[0] === OUTCOME_ITEMS_MARK;
}

/** The items of a body of outcome items (its text, RS included), each still encoded. */
export function outcomeItemTexts(body: string): string[] {
  return body.slice(body.charCodeAt(0) === OUTCOME_ITEMS_MARK ? 1 : 0).split(ITEM_SEPARATOR);
}

/** Where decoded reasons keep the JSON text they were parsed from. */
const TEXT = Symbol('outcome item reasons text');

/**
 * The outcome of an item: its head with its reasons in place, as `JSON.parse` of the outcome's JSON
 * would give it (same keys, same order). Its reasons' text is filed for `encodedReasons`. Throws
 * (SyntaxError, TypeError) when the item is not two JSON parts or its head is not an object.
 */
export function decodeOutcomeItem(item: string): Record<string, unknown> {
  const tab = item.indexOf(REASONS_SEPARATOR);
  if (tab < 0) throw new TypeError('an outcome item has no reasons part');
  const head: unknown = JSON.parse(item.slice(0, tab));
  if (!head || typeof head !== 'object' || Array.isArray(head)) throw new TypeError('an outcome item must be an object');
  const text = item.slice(tab + 1);
  const reasons: unknown = JSON.parse(text);
  (head as WithReasons).reasons = reasons;
  // On the array itself, hidden (not enumerable: no JSON, no equality, no copy by spread): a WeakMap
  // beside it cost a fifth of the decoding.
  if (reasons && typeof reasons === 'object') Object.defineProperty(reasons, TEXT, { value: text });
  return head as Record<string, unknown>;
}

/**
 * The JSON text `reasons` were parsed from when they came in an outcome item (what the recorder writes
 * to their jsonb column instead of encoding them again); undefined for any other value. Kept on the
 * array itself: an outcome whose reasons were replaced (or copied) gets none.
 */
export function encodedReasons(reasons: unknown): string | undefined {
  return reasons && typeof reasons === 'object' ? (reasons as { [TEXT]?: string })[TEXT] : undefined;
}
