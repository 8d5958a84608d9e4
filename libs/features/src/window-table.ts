/** One sliding window: `span` milliseconds approximated by `buckets` equal buckets. */
export interface WindowSpec {
  name: string;
  spanMs: number;
  buckets: number;
}

const EMPTY_PART_HASH = hashPart('');

/** FNV-1a hash of one key part; callers hash each part (IP, offer, user agent, …) once per event. */
export function hashPart(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h | 0;
}

/** The hash of a key of two parts, from the parts' hashes (a single-part key has `b` = ''). */
export function keyHash(ha: number, hb: number = EMPTY_PART_HASH): number {
  let h = Math.imul(ha ^ 0x9e3779b9, 0x85ebca6b) ^ hb;
  h = Math.imul(h ^ (h >>> 16), 0xc2b2ae35);
  return (h ^ (h >>> 13)) | 0;
}

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
  // Index: pairs (hash, slot + 1) in one array (0 in the second: empty), so a probe that does
  // not match never leaves it; slot → its position in the index, key parts.
  private table: Int32Array;
  private mask: number;
  private positions: Int32Array;
  private live: Uint8Array;
  private keysA: string[] = [];
  private keysB: string[] = [];
  // Third and fourth key parts, in tables made with `parts: 4` only.
  private keysC: string[] = [];
  private keysD: string[] = [];
  private readonly wide: boolean;
  private readonly free: number[] = [];
  private capacity: number;
  private used = 0;
  private count = 0;
  // A key's counts are one record: every bucket of every window, side by side (one or two cache
  // lines, not one per window), saturating at 65,535 per bucket. Its windows' heads (the newest
  // bucket index) likewise, and when it last counted an event.
  private readonly first: number[] = [];
  private readonly buckets: number[] = [];
  private readonly widths: number[] = [];
  private readonly offsets: number[] = [];
  private readonly stride: number;
  private counts: Uint16Array;
  private heads: Int32Array;
  private lastSeen: Float64Array;
  private readonly longestMs: number;
  private latest = -Infinity;
  private nextSweep = -Infinity;
  /** Keys dropped under memory pressure before they expired (a sign maxKeys is too low). */
  evictions = 0;

  constructor(
    readonly counters: readonly (readonly WindowSpec[])[],
    readonly maxKeys = 1_000_000,
    initialCapacity = 1024,
    parts: 2 | 4 = 2,
  ) {
    this.wide = parts === 4;
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
    this.stride = offset;
    this.capacity = Math.max(2, Math.min(initialCapacity, maxKeys));
    this.counts = new Uint16Array(this.capacity * this.stride);
    this.heads = new Int32Array(this.capacity * this.buckets.length).fill(NO_HEAD);
    this.lastSeen = new Float64Array(this.capacity);
    this.positions = new Int32Array(this.capacity);
    this.live = new Uint8Array(this.capacity);
    this.table = new Int32Array(2 * tableSizeFor(this.capacity));
    this.mask = this.table.length / 2 - 1;
    this.longestMs = Math.max(...counters.flat().map((w) => w.spanMs));
  }

  get size(): number {
    return this.count;
  }

  /** The key's slot, or -1. Parts `c` and `d` count in tables of four-part keys only. */
  find(h: number, a: string, b = '', c = '', d = ''): number {
    const table = this.table;
    for (let p = h & this.mask; ; p = (p + 1) & this.mask) {
      const entry = table[2 * p + 1];
      if (entry === 0) return -1;
      if (table[2 * p] !== h) continue;
      const slot = entry - 1;
      if (this.keysA[slot] === a && this.keysB[slot] === b && (!this.wide || (this.keysC[slot] === c && this.keysD[slot] === d))) {
        return slot;
      }
    }
  }

  /** The key's slot, created (all counts zero, last seen at `t`) if it has none. */
  slot(h: number, a: string, b: string, t: number, c = '', d = ''): number {
    if (t > this.latest) this.latest = t;
    const found = this.find(h, a, b, c, d);
    return found >= 0 ? found : this.insert(h, a, b, c, d, t);
  }

  /** Counts one event at time `t` (ms) in every window of counter `c`. */
  add(slot: number, c: number, t: number): void {
    if (t > this.latest) this.latest = t;
    const end = c + 1 < this.first.length ? this.first[c + 1] : this.buckets.length;
    const counts = this.counts;
    const heads = this.heads;
    const base = slot * this.stride;
    const headBase = slot * this.buckets.length;
    for (let w = this.first[c]; w < end; w++) {
      const b = this.buckets[w];
      const at = base + this.offsets[w];
      const abs = Math.floor(t / this.widths[w]);
      const head = heads[headBase + w];
      if (abs > head) {
        const clear = head === NO_HEAD ? b : Math.min(b, abs - head);
        for (let i = 0; i < clear; i++) counts[at + ((abs - i) % b)] = 0;
        heads[headBase + w] = abs;
      } else if (abs <= head - b) {
        continue; // older than this window's ring
      }
      const i = at + (abs % b);
      if (counts[i] < 0xffff) counts[i]++;
    }
    if (t > this.lastSeen[slot]) this.lastSeen[slot] = t;
  }

  /** Events of counter `c` in its window `w` ending at time `t`. */
  countSlot(slot: number, c: number, w: number, t: number): number {
    const i = this.first[c] + w;
    const head = this.heads[slot * this.buckets.length + i];
    if (head === NO_HEAD) return 0;
    const b = this.buckets[i];
    const at = slot * this.stride + this.offsets[i];
    const abs = Math.floor(t / this.widths[i]);
    const lo = Math.max(abs, head) - b + 1;
    const hi = Math.min(abs, head);
    const counts = this.counts;
    let sum = 0;
    for (let k = lo; k <= hi; k++) sum += counts[at + (k % b)];
    return sum;
  }

  /** Like `countSlot`, by key; 0 for an unknown key. */
  countKey(h: number, a: string, b: string, c: number, w: number, t: number): number {
    const slot = this.find(h, a, b);
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
      if (this.live[slot] && this.lastSeen[slot] < horizon) this.release(slot);
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
    this.heads.fill(NO_HEAD, slot * this.buckets.length, (slot + 1) * this.buckets.length);
    this.lastSeen[slot] = t;
    this.keysA[slot] = a;
    this.keysB[slot] = b;
    if (this.wide) {
      this.keysC[slot] = c;
      this.keysD[slot] = d;
    }
    this.live[slot] = 1;
    this.count++;
    this.place(slot, h);
    return slot;
  }

  private place(slot: number, h: number): void {
    let p = h & this.mask;
    while (this.table[2 * p + 1] !== 0) p = (p + 1) & this.mask;
    this.table[2 * p] = h;
    this.table[2 * p + 1] = slot + 1;
    this.positions[slot] = p;
  }

  /** Drops about `n` of the least recently seen keys, finding the cut-off from a sample (O(keys), no sort of all keys). */
  private evictOldest(n: number): void {
    const sample: number[] = [];
    const every = Math.max(1, Math.floor(this.count / 2000));
    let i = 0;
    for (let slot = 0; slot < this.used; slot++) if (this.live[slot] && i++ % every === 0) sample.push(this.lastSeen[slot]);
    sample.sort((x, y) => x - y);
    const cutoff = sample[Math.min(sample.length - 1, Math.floor((n / this.count) * sample.length))];
    let dropped = 0;
    for (let slot = 0; slot < this.used && dropped < n; slot++) {
      if (this.live[slot] && this.lastSeen[slot] <= cutoff) {
        this.release(slot);
        dropped++;
      }
    }
    this.evictions += dropped;
  }

  /** Removes a key: its index entry (shifting back the entries that probed past it) and its slot. */
  private release(slot: number): void {
    const table = this.table;
    const mask = this.mask;
    let hole = this.positions[slot];
    table[2 * hole] = 0;
    table[2 * hole + 1] = 0;
    for (let p = (hole + 1) & mask; table[2 * p + 1] !== 0; p = (p + 1) & mask) {
      const home = table[2 * p] & mask;
      // The entry at p may move into the hole unless its home lies cyclically in (hole, p].
      const stays = hole <= p ? hole < home && home <= p : hole < home || home <= p;
      if (stays) continue;
      table[2 * hole] = table[2 * p];
      table[2 * hole + 1] = table[2 * p + 1];
      this.positions[table[2 * p + 1] - 1] = hole;
      table[2 * p] = 0;
      table[2 * p + 1] = 0;
      hole = p;
    }
    this.live[slot] = 0;
    this.keysA[slot] = '';
    this.keysB[slot] = '';
    if (this.wide) {
      this.keysC[slot] = '';
      this.keysD[slot] = '';
    }
    this.free.push(slot);
    this.count--;
  }

  private grow(): void {
    const next = Math.min(this.capacity * 2, this.maxKeys);
    const widen = <A extends Float64Array | Int32Array | Uint16Array | Uint8Array>(a: A, make: (n: number) => A, per = 1): A => {
      const bigger = make(next * per);
      bigger.set(a);
      return bigger;
    };
    this.counts = widen(this.counts, (n) => new Uint16Array(n), this.stride);
    this.heads = widen(this.heads, (n) => new Int32Array(n).fill(NO_HEAD), this.buckets.length);
    this.lastSeen = widen(this.lastSeen, (n) => new Float64Array(n));
    this.positions = widen(this.positions, (n) => new Int32Array(n));
    this.live = widen(this.live, (n) => new Uint8Array(n));
    this.capacity = next;
    if (2 * tableSizeFor(next) > this.table.length) {
      const old = this.table;
      this.table = new Int32Array(2 * tableSizeFor(next));
      this.mask = this.table.length / 2 - 1;
      for (let p = 0; p < old.length / 2; p++) if (old[2 * p + 1] !== 0) this.place(old[2 * p + 1] - 1, old[2 * p]);
    }
  }
}

/** The head of a window that has counted nothing yet (its ring is cleared on its first event). */
const NO_HEAD = -0x80000000;

/** A power of two at least twice the capacity: linear probing stays short below half full. */
function tableSizeFor(capacity: number): number {
  let size = 16;
  while (size < capacity * 2) size *= 2;
  return size;
}
