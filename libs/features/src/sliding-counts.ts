/** One sliding window: `span` milliseconds approximated by `buckets` equal buckets. */
export interface WindowSpec {
  name: string;
  spanMs: number;
  buckets: number;
}

/**
 * Event counts per key over several sliding windows, in flat typed arrays (no object per key).
 *
 * Each window is a ring of buckets per key; a count covers the current bucket and the previous
 * `buckets - 1`, so the window edge is accurate to one bucket width (10 s for a 1-minute window
 * of 6 buckets) — the usual trade of exactness for constant memory per key. Time comes from the
 * events, so replaying history gives the same counts. Events older than a window still count in
 * the windows they fall in; ones older than the ring are not counted there.
 *
 * Memory is bounded: keys idle for longer than the longest window are swept, and past `maxKeys`
 * the least recently seen keys are dropped first.
 */
export class SlidingCounts {
  private readonly index = new Map<string, number>();
  private readonly free: number[] = [];
  private capacity: number;
  private used = 0;
  private readonly widths: number[];
  private counts: Uint32Array[];
  private heads: Float64Array[];
  private lastSeen: Float64Array;
  private readonly longestMs: number;
  private latest = -Infinity;
  private nextSweep = -Infinity;
  /** Keys dropped under memory pressure before they expired (a sign maxKeys is too low). */
  evictions = 0;

  constructor(
    readonly windows: readonly WindowSpec[],
    readonly maxKeys = 1_000_000,
    initialCapacity = 1024,
  ) {
    this.capacity = Math.min(initialCapacity, maxKeys);
    this.widths = windows.map((w) => w.spanMs / w.buckets);
    this.counts = windows.map((w) => new Uint32Array(this.capacity * w.buckets));
    this.heads = windows.map(() => new Float64Array(this.capacity).fill(-Infinity));
    this.lastSeen = new Float64Array(this.capacity);
    this.longestMs = Math.max(...windows.map((w) => w.spanMs));
  }

  get size(): number {
    return this.index.size;
  }

  /** Counts one event for `key` at time `t` (ms) and returns the key's slot. */
  add(key: string, t: number): number {
    if (t > this.latest) this.latest = t;
    const slot = this.slotFor(key, t);
    for (let w = 0; w < this.windows.length; w++) {
      const b = this.windows[w].buckets;
      const abs = Math.floor(t / this.widths[w]);
      const heads = this.heads[w];
      const counts = this.counts[w];
      const head = heads[slot];
      if (abs > head) {
        const clear = Math.min(b, abs - head);
        for (let i = 0; i < clear; i++) counts[slot * b + ((abs - i) % b)] = 0;
        heads[slot] = abs;
      } else if (abs <= head - b) {
        continue; // older than this window's ring
      }
      counts[slot * b + (abs % b)]++;
    }
    if (t > this.lastSeen[slot]) this.lastSeen[slot] = t;
    return slot;
  }

  /** When `key` last saw an event (ms), or null. */
  lastSeenOf(key: string): number | null {
    const slot = this.index.get(key);
    return slot === undefined ? null : this.lastSeen[slot];
  }

  /** Events of `key` in window `w` ending at time `t`; 0 for an unknown key. */
  count(key: string, w: number, t: number): number {
    const slot = this.index.get(key);
    return slot === undefined ? 0 : this.countSlot(slot, w, t);
  }

  countSlot(slot: number, w: number, t: number): number {
    const b = this.windows[w].buckets;
    const abs = Math.floor(t / this.widths[w]);
    const head = this.heads[w][slot];
    const lo = Math.max(abs, head) - b + 1;
    const hi = Math.min(abs, head);
    const counts = this.counts[w];
    let sum = 0;
    for (let i = lo; i <= hi; i++) sum += counts[slot * b + (i % b)];
    return sum;
  }

  private slotFor(key: string, t: number): number {
    let slot = this.index.get(key);
    if (slot !== undefined) return slot;
    if (this.latest >= this.nextSweep) this.sweep();
    if (this.index.size >= this.maxKeys) this.evictOldest(Math.max(1, Math.floor(this.maxKeys / 20)));
    slot = this.free.pop();
    if (slot === undefined) {
      if (this.used === this.capacity) this.grow();
      slot = this.used++;
    }
    for (let w = 0; w < this.windows.length; w++) {
      this.heads[w][slot] = -Infinity;
      this.counts[w].fill(0, slot * this.windows[w].buckets, (slot + 1) * this.windows[w].buckets);
    }
    this.lastSeen[slot] = t;
    this.index.set(key, slot);
    return slot;
  }

  /** Frees keys that have seen nothing for longer than the longest window. */
  sweep(): void {
    const horizon = this.latest - this.longestMs;
    for (const [key, slot] of this.index) {
      if (this.lastSeen[slot] < horizon) this.release(key, slot);
    }
    // Sweeping costs O(keys): do it at most every tenth of the longest window of event time.
    this.nextSweep = this.latest + this.longestMs / 10;
  }

  /** Drops about `n` of the least recently seen keys, finding the cut-off from a sample (O(keys), no sort of all keys). */
  private evictOldest(n: number): void {
    const sample: number[] = [];
    const every = Math.max(1, Math.floor(this.index.size / 2000));
    let i = 0;
    for (const slot of this.index.values()) if (i++ % every === 0) sample.push(this.lastSeen[slot]);
    sample.sort((a, b) => a - b);
    const cutoff = sample[Math.min(sample.length - 1, Math.floor((n / this.index.size) * sample.length))];
    let dropped = 0;
    for (const [key, slot] of this.index) {
      if (dropped >= n) break;
      if (this.lastSeen[slot] <= cutoff) {
        this.release(key, slot);
        dropped++;
      }
    }
    this.evictions += dropped;
  }

  private release(key: string, slot: number): void {
    this.index.delete(key);
    this.free.push(slot);
  }

  private grow(): void {
    const next = Math.min(this.capacity * 2, this.maxKeys);
    this.counts = this.counts.map((c, w) => {
      const bigger = new Uint32Array(next * this.windows[w].buckets);
      bigger.set(c);
      return bigger;
    });
    this.heads = this.heads.map((h) => {
      const bigger = new Float64Array(next).fill(-Infinity);
      bigger.set(h);
      return bigger;
    });
    const seen = new Float64Array(next);
    seen.set(this.lastSeen);
    this.lastSeen = seen;
    this.capacity = next;
  }
}
