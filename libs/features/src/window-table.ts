import { KeyIndex, ProbeStats } from './key-index';
import { evictionCutoff } from './eviction';

/** One sliding window: `span` milliseconds approximated by `buckets` equal buckets. */
export interface WindowSpec {
  name: string;
  spanMs: number;
  buckets: number;
}

export { OFFLINE_DISTINCT_SECRET, distinctKey, hashPart, keyHash, valueHash } from './key-index';
export type { DistinctKey } from './key-index';
export type { ProbeStats } from './key-index';

/**
 * Event counts per key over sliding windows, for several counters per key (a key's clicks, the
 * distinct offers it reached, …), in flat typed arrays: no object per key, no key concatenation.
 *
 * Keys are one or two strings found through an open-addressing hash index (linear probing,
 * backward-shift deletion) on hashes the caller computes once per event and key part. Each
 * counter is a set of windows; each window a ring of buckets per key; a count covers the current
 * bucket and the previous `buckets - 1`, so the window edge is accurate to one bucket width (10 s
 * for a 1-minute window of 6 buckets). Time comes from the events, so replaying history gives the
 * same counts; events older than a window still count in the windows they fall in; ones older
 * than the ring are not counted there.
 *
 * Memory is bounded: keys idle for longer than the longest window are swept, and past `maxKeys`
 * the least recently seen keys are dropped first.
 */
export class WindowTable {
  private readonly index: KeyIndex;
  private live: Uint8Array;
  private readonly free: number[] = [];
  private capacity: number;
  private used = 0;
  private count = 0;
  // A key's counts are one record: its windows' heads (the newest bucket index, int32), then every
  // bucket of every window side by side (uint16, saturating at 65,535), through two views of one
  // buffer: one or two adjacent cache lines per key, not one per window nor heads apart from
  // counts (a click looks up a dozen keys, and cache misses were most of what that cost). When it
  // last counted an event is apart, with `live`: what sweeping and eviction scan.
  private readonly first: number[] = [];
  private readonly buckets: number[] = [];
  private readonly widths: number[] = [];
  private readonly offsets: number[] = [];
  /** Bytes per record, and where its counts start. */
  private readonly stride: number;
  private readonly countsAt: number;
  private records: ArrayBuffer;
  private counts: Uint16Array;
  private heads: Int32Array;
  private lastSeen: Float64Array;
  private readonly longestMs: number;
  private latest = -Infinity;
  private nextSweep = -Infinity;
  /**
   * The slot `slot()` handed out last: a caller may still hold it while it asks for a second key
   * of the same event (a publisher, then its sub-id), so sweeping and eviction never release it.
   */
  private held = -1;
  /** Keys dropped under memory pressure before they expired (a sign maxKeys is too low). */
  evictions = 0;

  constructor(
    readonly counters: readonly (readonly WindowSpec[])[],
    readonly maxKeys = 1_000_000,
    initialCapacity = 1024,
    parts: 2 | 4 = 2,
  ) {
    let offset = 0;
    for (const windows of counters) {
      this.first.push(this.buckets.length);
      for (const w of windows) {
        // Bucket indexes are kept as 32-bit integers: buckets of a second or more stay in range until 2038.
        if (w.spanMs / w.buckets < 1000) throw new Error(`window ${w.name}: buckets must span at least a second`);
        this.buckets.push(w.buckets);
        this.widths.push(w.spanMs / w.buckets);
        this.offsets.push(offset);
        offset += w.buckets;
      }
    }
    this.countsAt = 4 * this.buckets.length;
    this.stride = Math.ceil((this.countsAt + 2 * offset) / 4) * 4;
    // Byte offsets into the records are taken as 32-bit integers (`>> 1`, `>> 2`).
    if (maxKeys * this.stride >= 2 ** 31)
      throw new Error(`a window table of ${maxKeys} keys would need ${maxKeys * this.stride} bytes of records: at most 2 GiB`);
    this.capacity = Math.max(2, Math.min(initialCapacity, maxKeys));
    this.index = new KeyIndex(this.capacity, parts);
    this.records = new ArrayBuffer(this.capacity * this.stride);
    this.counts = new Uint16Array(this.records);
    this.heads = new Int32Array(this.records);
    this.lastSeen = new Float64Array(this.capacity);
    this.live = new Uint8Array(this.capacity);
    this.longestMs = Math.max(...counters.flat().map((w) => w.spanMs));
  }

  get size(): number {
    return this.count;
  }

  /** Bytes held in typed arrays (counts, heads, index). */
  get bytes(): number {
    return this.records.byteLength + this.lastSeen.byteLength + this.live.byteLength + this.index.bytes;
  }

  /** How far its index's lookups walk (see `KeyIndex.probeStats`). */
  probeStats(): ProbeStats {
    return this.index.probeStats();
  }

  /** The key's slot, or -1. Parts `c` and `d` count in tables of four-part keys only. */
  find(h: number, a: string, b = '', c = '', d = ''): number {
    return this.index.find(h, a, b, c, d);
  }

  /** The key's slot, created (all counts zero, last seen at `t`) if it has none. */
  slot(h: number, a: string, b: string, t: number, c = '', d = ''): number {
    if (t > this.latest) this.latest = t;
    const found = this.index.find(h, a, b, c, d);
    this.held = found >= 0 ? found : this.insert(h, a, b, c, d, t);
    return this.held;
  }

  /**
   * A new slot for a key `find` just said is absent (as `slot` would create it), without looking
   * it up again: most of a click's keys are new ones.
   */
  create(h: number, a: string, b: string, t: number, c = '', d = ''): number {
    if (t > this.latest) this.latest = t;
    this.held = this.insert(h, a, b, c, d, t);
    return this.held;
  }

  /** Counts one event at time `t` (ms) in every window of counter `c`. */
  add(slot: number, c: number, t: number): void {
    if (t > this.latest) this.latest = t;
    const end = c + 1 < this.first.length ? this.first[c + 1] : this.buckets.length;
    const counts = this.counts;
    const heads = this.heads;
    const record = slot * this.stride;
    const base = (record + this.countsAt) >> 1;
    const headBase = record >> 2;
    for (let w = this.first[c]; w < end; w++) {
      const b = this.buckets[w];
      const at = base + this.offsets[w];
      const abs = Math.floor(t / this.widths[w]);
      const head = heads[headBase + w];
      if (abs > head) {
        const clear = head === NO_HEAD ? b : Math.min(b, abs - head);
        for (let i = 0; i < clear; i++) counts[at + ring(abs - i, b)] = 0;
        heads[headBase + w] = abs;
      } else if (abs <= head - b) {
        continue; // older than this window's ring
      }
      const i = at + ring(abs, b);
      if (counts[i] < 0xffff) counts[i]++;
    }
    if (t > this.lastSeen[slot]) this.lastSeen[slot] = t;
  }

  /** Events of counter `c` in its window `w` ending at time `t`. */
  countSlot(slot: number, c: number, w: number, t: number): number {
    const i = this.first[c] + w;
    const record = slot * this.stride;
    const head = this.heads[(record >> 2) + i];
    if (head === NO_HEAD) return 0;
    const b = this.buckets[i];
    const at = ((record + this.countsAt) >> 1) + this.offsets[i];
    const abs = Math.floor(t / this.widths[i]);
    const lo = Math.max(abs, head) - b + 1;
    const hi = Math.min(abs, head);
    const counts = this.counts;
    let sum = 0;
    if (lo < 0) {
      for (let k = lo; k <= hi; k++) sum += counts[at + ring(k, b)];
      return sum;
    }
    // Up to 24 buckets per read and a dozen reads per click: one division, then a wrapping index.
    for (let k = lo, j = lo % b; k <= hi; k++) {
      sum += counts[at + j];
      if (++j === b) j = 0;
    }
    return sum;
  }

  /** Like `countSlot`, by key; 0 for an unknown key. */
  countKey(h: number, a: string, b: string, c: number, w: number, t: number): number {
    const slot = this.index.find(h, a, b);
    return slot < 0 ? 0 : this.countSlot(slot, c, w, t);
  }

  /** When the key's slot last counted an event (ms). */
  lastSeenOf(slot: number): number {
    return this.lastSeen[slot];
  }

  /** Frees keys that have seen nothing for longer than the longest window. */
  sweep(): void {
    const horizon = this.latest - this.longestMs;
    for (let slot = 0; slot < this.used; slot++) {
      if (this.live[slot] && this.lastSeen[slot] < horizon && slot !== this.held) this.release(slot);
    }
    // Sweeping costs O(keys): do it at most every tenth of the longest window of event time.
    this.nextSweep = this.latest + this.longestMs / 10;
  }

  private insert(h: number, a: string, b: string, c: string, d: string, t: number): number {
    if (this.latest >= this.nextSweep) this.sweep();
    if (this.count >= this.maxKeys) this.evictOldest(Math.max(1, Math.floor(this.maxKeys / 20)));
    let slot = this.free.pop();
    if (slot === undefined) {
      if (this.used === this.capacity) this.grow();
      slot = this.used++;
    }
    // Counts need no clearing: a window whose head is NO_HEAD clears its ring on the first event.
    const heads = (slot * this.stride) >> 2;
    this.heads.fill(NO_HEAD, heads, heads + this.buckets.length);
    this.lastSeen[slot] = t;
    this.live[slot] = 1;
    this.count++;
    this.index.add(slot, h, a, b, c, d);
    return slot;
  }

  /** Drops about `n` of the least recently seen keys, finding the cut-off from a sample (O(keys), no sort of all keys). */
  private evictOldest(n: number): void {
    const cutoff = evictionCutoff(this.live, this.lastSeen, this.used, this.count, n);
    let dropped = 0;
    for (let slot = 0; slot < this.used && dropped < n; slot++) {
      if (this.live[slot] && this.lastSeen[slot] <= cutoff && slot !== this.held) {
        this.release(slot);
        dropped++;
      }
    }
    this.evictions += dropped;
  }

  private release(slot: number): void {
    this.index.remove(slot);
    this.live[slot] = 0;
    this.free.push(slot);
    this.count--;
  }

  private grow(): void {
    // ×1.5 rather than ×2: at a million keys, the slack is what decides the footprint.
    const next = Math.min(Math.ceil(this.capacity * 1.5), this.maxKeys);
    // New records' heads are set when their slot is first used (`insert`).
    const records = new ArrayBuffer(next * this.stride);
    new Uint8Array(records).set(new Uint8Array(this.records));
    this.records = records;
    this.counts = new Uint16Array(records);
    this.heads = new Int32Array(records);
    this.lastSeen = widen(this.lastSeen, next, (n) => new Float64Array(n));
    this.live = widen(this.live, next, (n) => new Uint8Array(n));
    this.index.grow(next);
    this.capacity = next;
  }
}

/** A copy of `a` in a longer array of the same kind. */
export function widen<A extends Float64Array | Float32Array | Int32Array | Uint32Array | Uint16Array | Uint8Array>(
  a: A,
  length: number,
  make: (n: number) => A,
): A {
  const bigger = make(length);
  bigger.set(a);
  return bigger;
}

/**
 * Bucket `abs`'s place in a ring of `b`, also for the buckets before 1970 (an admin may send a
 * click dated 1970-01-01: `%` alone gave the buckets before its bucket negative places, which
 * were another key's counts and are now this key's heads).
 */
function ring(abs: number, b: number): number {
  const i = abs % b;
  return i < 0 ? i + b : i;
}

/** The head of a window that has counted nothing yet (its ring is cleared on its first event). */
const NO_HEAD = -0x80000000;
