import { createHash } from 'node:crypto';
import { OUTCOME_ITEMS_MARK, decodeOutcomeItem, encodeOutcomeItem, outcomeItemTexts, outcomeItemsBody } from '@app/contracts';
import type { Outgoing } from './publisher';

/**
 * Several items of one subject in one JetStream message (DESIGN §2: "the wire unit may be a batch of
 * events; every event still has its own id"). Per-message NATS work (publish, ack, socket, decode)
 * was most of the engine's CPU per event, so the scorer sends its outcomes this way, and the gateway
 * the events of a request whose ids it minted.
 *
 * Shape: the body is a JSON array of the items, each exactly what a single message would carry, and
 * the `Arbiter-Items` header says how many there are (the consumer sizes its handler calls by it
 * before decoding). A message without the header is one item, as every message was before: old
 * producers, replayed dead letters and a batch of one keep that shape.
 */
export const ITEMS_HEADER = 'Arbiter-Items';

/** Items per message at most. By count, not size: the same items always split the same way. */
export const ITEMS_PER_MESSAGE = 100;

/** One item to send: what it would be as a message of its own. */
export interface BatchItem {
  payload: unknown;
  /** The item's own id (what its Nats-Msg-Id would be alone); consumers de-duplicate by it. */
  msgId: string;
  /** An outcome's item (`encodeOutcomeItem` of `payload`) when the caller has it already: `outcomeMessages` sends it as it is. */
  item?: string;
}

/** A body already encoded (JSON, or outcome items): the publisher sends it as it is. */
export class EncodedJson {
  constructor(readonly text: string) {}
}

/**
 * A batch message's body stays under this many bytes when `batchMessages` is asked to bound it: well
 * below NATS's default max_payload (1 MiB), which a message of 100 events a sender filled to the
 * schema's limits (2 kB user agents and referrers) would pass; such a message is split in halves.
 */
export const MAX_BATCH_BYTES = 256 * 1024;

/**
 * Messages for `items` of one subject, in their order: a single item goes as before (its own msgId,
 * so JetStream de-duplicates it alone); more go `perMessage` at a time as arrays whose msgId is
 * derived from the items' ids, so the same items sent again (a redelivered batch re-scored) are
 * dropped by JetStream. When they come again in another composition, consumers de-duplicate per
 * item. With `maxBytes`, a message whose body would be larger is split in halves (until single):
 * each message covers the next `items ?? 1` items.
 */
export function batchMessages(
  subject: string,
  items: readonly BatchItem[],
  perMessage = ITEMS_PER_MESSAGE,
  maxBytes = Infinity,
): Outgoing[] {
  return chunked(subject, items, perMessage, maxBytes, arrayBody);
}

/**
 * Like `batchMessages`, for the scorer's outcomes (verdicts, decisions): several go as a body of
 * outcome items (`outcomeItemsBody`: each item's reasons a part of their own, which the recorder
 * writes as they came instead of encoding them again), each item's `item` as it is when given. A
 * single outcome goes as its JSON, as before.
 */
export function outcomeMessages(
  subject: string,
  items: readonly BatchItem[],
  perMessage = ITEMS_PER_MESSAGE,
  maxBytes = Infinity,
): Outgoing[] {
  return chunked(subject, items, perMessage, maxBytes, itemsBody);
}

/** `items` `perMessage` at a time, each chunk packed (split by `maxBytes`) with `body`. */
function chunked(
  subject: string,
  items: readonly BatchItem[],
  perMessage: number,
  maxBytes: number,
  body: (chunk: readonly BatchItem[]) => string,
): Outgoing[] {
  const out: Outgoing[] = [];
  for (let start = 0; start < items.length; start += perMessage) pack(subject, items.slice(start, start + perMessage), maxBytes, out, body);
  return out;
}

function arrayBody(chunk: readonly BatchItem[]): string {
  const payloads: unknown[] = new Array(chunk.length);
  for (let k = 0; k < chunk.length; k++) payloads[k] = chunk[k].payload;
  // The array in one call, the same text as each item's JSON joined by commas (the items are objects):
  // about a quarter less CPU with its UTF-8 encoding than item by item, most of the scorer's publishing cost.
  return JSON.stringify(payloads);
}

function itemsBody(chunk: readonly BatchItem[]): string {
  const texts: string[] = new Array(chunk.length);
  for (let k = 0; k < chunk.length; k++) texts[k] = chunk[k].item ?? encodeOutcomeItem(chunk[k].payload as { reasons: unknown });
  return outcomeItemsBody(texts);
}

function pack(
  subject: string,
  chunk: readonly BatchItem[],
  maxBytes: number,
  out: Outgoing[],
  body: (chunk: readonly BatchItem[]) => string,
): void {
  if (chunk.length === 1) {
    out.push({ subject, payload: chunk[0].payload, msgId: chunk[0].msgId });
    return;
  }
  const text = body(chunk);
  // A UTF-8 byte is at most three UTF-16 units' worth: only a long text is measured.
  if (text.length * 3 > maxBytes && Buffer.byteLength(text) > maxBytes) {
    const half = Math.ceil(chunk.length / 2);
    pack(subject, chunk.slice(0, half), maxBytes, out, body);
    pack(subject, chunk.slice(half), maxBytes, out, body);
    return;
  }
  const ids = createHash('sha256');
  for (const item of chunk) ids.update(item.msgId).update('\n');
  out.push({ subject, payload: new EncodedJson(text), msgId: `items:${chunk.length}:${ids.digest('base64url')}`, items: chunk.length });
}

/**
 * A batch message: its body is a JSON array or outcome items (a single item is an object). Not read from the header:
 * parsing every message's headers cost single messages 8 % more CPU, and a batch an older consumer
 * dead-lettered whole comes back from a replay without it.
 */
export function isBatchBody(data: Uint8Array): boolean {
  if (data.length > 0 && data[0] === OUTCOME_ITEMS_MARK) return true;
  for (let i = 0; i < data.length; i++) {
    const c = data[i];
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return c === 0x5b; // '['
  }
  return false;
}

/** Items a message carries, from its header (1 without one). */
export function itemCount(headerValue: string | undefined | null): number {
  const n = Number(headerValue);
  return Number.isInteger(n) && n > 1 ? n : 1;
}

/**
 * The items of a message body of any shape (one JSON value, a JSON array, outcome items), parsed and
 * not checked against any contract: for readers that only look (the bench's diagnosis, tests). Throws
 * when it is not one of them.
 */
export function bodyItems(text: string): unknown[] {
  if (text.charCodeAt(0) === OUTCOME_ITEMS_MARK) return outcomeItemTexts(text).map(decodeOutcomeItem);
  const parsed: unknown = JSON.parse(text);
  return Array.isArray(parsed) ? parsed : [parsed];
}
