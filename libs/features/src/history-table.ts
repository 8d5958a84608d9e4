import { KeyIndex, ProbeStats } from './key-index';
import { widen } from './window-table';
import { evictionCutoff } from './eviction';

/** Registers per distinct-count sketch: 32 one-byte HyperLogLog registers (standard error ≈ 18 %). */
export const SKETCH_REGISTERS = 32;
/**
 * Values each sketch also keeps exactly (their hashes) before it relies on the registers alone:
 * most IPs and devices show one to four devices or addresses, where a register collision (one pair
 * in 32) would be a large error, and where the difference matters most.
 */
export const EXACT_VALUES = 4;
const INDEX_BITS = 5;
// HyperLogLog's bias constant for 32 registers (Flajolet et al. 2007).
const ALPHA = 0.697;
/** 2^-r for every register value r a 27-bit remainder can produce (0 … 28). */
const POW2_NEG = Float64Array.from({ length: 29 }, (_, r) => 2 ** -r);

/**
 * What a key (an IP, a device) has shown so far: when it was first and last seen, and how many
 * distinct values of a few kinds (devices, user agents, click ids, …) it came with, each counted
 * approximately by a small HyperLogLog sketch. "So far" means since the key was first seen and has
 * not been dropped since: the table holds at most `maxKeys` keys and drops the least recently
 * seen ones first (a dropped key starts over as new).
 *
 * Flat typed arrays (no object per key), like `WindowTable`: per key two times, one sketch of
 * `SKETCH_REGISTERS` bytes per distinct count, and each count's current estimate (recomputed only
 * when one of its registers rises). A per-key sketch object from a library (e.g. bloom-filters'
 * HyperLogLog: a JS array of registers, xxhash over strings) would cost several hundred bytes and
 * a string hash per key and value; here a value's hash is one the caller already has (`valueHash`, keyed with the deployment's
 * secret, so that a sender cannot choose values that count as one, and estimates are the same in
 * every process of the deployment).
 */
export class HistoryTable {
  private readonly index: KeyIndex;
  private readonly free: number[] = [];
  private capacity: number;
  private used = 0;
  private count = 0;
  private live: Uint8Array;
  private firstSeen: Float64Array;
  private lastSeen: Float64Array;
  private registers: Uint8Array;
  private estimates: Float32Array;
  /** Per sketch: the first EXACT_VALUES value hashes, and how many (EXACT_VALUES + 1: more than that). */
  private exact: Int32Array;
  private exactCount: Uint8Array;
  private held = -1;
  /** Keys dropped because the table was full. */
  evictions = 0;

  constructor(
    /** Distinct counts per key (sketches). */
    readonly sketches: number,
    readonly maxKeys: number,
    initialCapacity = 1024,
  ) {
    if (maxKeys < 2) throw new Error('a history table needs room for at least two keys');
    this.capacity = Math.max(2, Math.min(initialCapacity, maxKeys));
    this.index = new KeyIndex(this.capacity, 2);
    this.live = new Uint8Array(this.capacity);
    this.firstSeen = new Float64Array(this.capacity);
    this.lastSeen = new Float64Array(this.capacity);
    this.registers = new Uint8Array(this.capacity * sketches * SKETCH_REGISTERS);
    this.estimates = new Float32Array(this.capacity * sketches);
    this.exact = new Int32Array(this.capacity * sketches * EXACT_VALUES);
    this.exactCount = new Uint8Array(this.capacity * sketches);
  }

  get size(): number {
    return this.count;
  }

  /** Bytes held in typed arrays now. */
  get bytes(): number {
    return (
      this.live.byteLength +
      this.firstSeen.byteLength +
      this.lastSeen.byteLength +
      this.registers.byteLength +
      this.estimates.byteLength +
      this.exact.byteLength +
      this.exactCount.byteLength +
      this.index.bytes
    );
  }

  /** Typed-array bytes per key at capacity (the index is sized for twice the keys, two int32 each). */
  static bytesPerKey(sketches: number): number {
    return 1 + 8 + 8 + sketches * (SKETCH_REGISTERS + 4 + 4 * EXACT_VALUES + 1) + 4 + 2 * 2 * 4;
  }

  /** How far its index's lookups walk (see `KeyIndex.probeStats`). */
  probeStats(): ProbeStats {
    return this.index.probeStats();
  }

  /** The key's slot, or -1. */
  find(h: number, key: string): number {
    return this.index.find(h, key);
  }

  /** The key's slot, created (first and last seen at `t`, nothing counted) if it has none. */
  slot(h: number, key: string, t: number): number {
    const found = this.index.find(h, key);
    this.held = found >= 0 ? found : this.insert(h, key, t);
    return this.held;
  }

  /** Notes that the key was seen at `t` (an earlier `t` than its first sighting moves that back). */
  touch(slot: number, t: number): void {
    if (t < this.firstSeen[slot]) this.firstSeen[slot] = t;
    if (t > this.lastSeen[slot]) this.lastSeen[slot] = t;
  }

  firstSeenOf(slot: number): number {
    return this.firstSeen[slot];
  }

  lastSeenOf(slot: number): number {
    return this.lastSeen[slot];
  }

  /** Adds a value (by its 32-bit hash, well mixed) to sketch `s` of the key. */
  addDistinct(slot: number, s: number, valueHash: number): void {
    const k = slot * this.sketches + s;
    const n = this.exactCount[k];
    if (n <= EXACT_VALUES) {
      const at = k * EXACT_VALUES;
      let seen = false;
      for (let i = 0; i < n && !seen; i++) seen = this.exact[at + i] === valueHash;
      if (!seen) {
        if (n < EXACT_VALUES) this.exact[at + n] = valueHash;
        this.exactCount[k] = n + 1;
      }
    }
    const j = valueHash & (SKETCH_REGISTERS - 1);
    const rest = valueHash >>> INDEX_BITS;
    // Position of the leftmost 1 in the 27 remaining bits (28 when they are all zero).
    const rank = rest === 0 ? 32 - INDEX_BITS + 1 : Math.clz32(rest) - INDEX_BITS + 1;
    const at = (slot * this.sketches + s) * SKETCH_REGISTERS;
    if (rank <= this.registers[at + j]) return;
    this.registers[at + j] = rank;
    this.estimates[slot * this.sketches + s] = estimate(this.registers, at);
  }

  /** Distinct values of sketch `s` so far: exact up to EXACT_VALUES, then estimated (≈ 18 % error). */
  distinct(slot: number, s: number): number {
    const k = slot * this.sketches + s;
    const n = this.exactCount[k];
    return n <= EXACT_VALUES ? n : Math.max(EXACT_VALUES + 1, Math.round(this.estimates[k]));
  }

  private insert(h: number, key: string, t: number): number {
    if (this.count >= this.maxKeys) this.evictOldest(Math.max(1, Math.floor(this.maxKeys / 20)));
    let slot = this.free.pop();
    if (slot === undefined) {
      if (this.used === this.capacity) this.grow();
      slot = this.used++;
    }
    this.live[slot] = 1;
    this.firstSeen[slot] = t;
    this.lastSeen[slot] = t;
    this.registers.fill(0, slot * this.sketches * SKETCH_REGISTERS, (slot + 1) * this.sketches * SKETCH_REGISTERS);
    this.estimates.fill(0, slot * this.sketches, (slot + 1) * this.sketches);
    this.exactCount.fill(0, slot * this.sketches, (slot + 1) * this.sketches);
    this.count++;
    this.index.add(slot, h, key);
    return slot;
  }

  /** Drops about `n` of the least recently seen keys, the cut-off found from a sample (as `WindowTable` does). */
  private evictOldest(n: number): void {
    const cutoff = evictionCutoff(this.live, this.lastSeen, this.used, this.count, n);
    let dropped = 0;
    for (let slot = 0; slot < this.used && dropped < n; slot++) {
      if (this.live[slot] && this.lastSeen[slot] <= cutoff && slot !== this.held) {
        this.index.remove(slot);
        this.live[slot] = 0;
        this.free.push(slot);
        this.count--;
        dropped++;
      }
    }
    this.evictions += dropped;
  }

  private grow(): void {
    const next = Math.min(Math.ceil(this.capacity * 1.5), this.maxKeys);
    this.live = widen(this.live, next, (n) => new Uint8Array(n));
    this.firstSeen = widen(this.firstSeen, next, (n) => new Float64Array(n));
    this.lastSeen = widen(this.lastSeen, next, (n) => new Float64Array(n));
    this.registers = widen(this.registers, next * this.sketches * SKETCH_REGISTERS, (n) => new Uint8Array(n));
    this.estimates = widen(this.estimates, next * this.sketches, (n) => new Float32Array(n));
    this.exact = widen(this.exact, next * this.sketches * EXACT_VALUES, (n) => new Int32Array(n));
    this.exactCount = widen(this.exactCount, next * this.sketches, (n) => new Uint8Array(n));
    this.index.grow(next);
    this.capacity = next;
  }
}

/** HyperLogLog's estimate from the registers at `at`, with linear counting while many are empty. */
function estimate(registers: Uint8Array, at: number): number {
  let sum = 0;
  let zeros = 0;
  for (let j = 0; j < SKETCH_REGISTERS; j++) {
    const r = registers[at + j];
    sum += POW2_NEG[r];
    if (r === 0) zeros++;
  }
  const raw = (ALPHA * SKETCH_REGISTERS * SKETCH_REGISTERS) / sum;
  return raw <= 2.5 * SKETCH_REGISTERS && zeros > 0 ? SKETCH_REGISTERS * Math.log(SKETCH_REGISTERS / zeros) : raw;
}
