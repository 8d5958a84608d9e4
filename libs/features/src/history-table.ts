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
 * `SKETCH_REGISTERS` bytes per distinct count, and each count's estimate (recomputed when it is
 * read after one of its registers rose: most keys never show more than `EXACT_VALUES`, and their
 * estimate is never read). A key's first-seen time, sketches and exact values are one record of
 * adjacent bytes (three cache lines for three sketches): in separate arrays, a click's lookup of
 * its IP and of its device touched some ten scattered lines each, most of a click's feature time. A per-key sketch object from a library (e.g. bloom-filters'
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
  /** Dense, apart from the records: what eviction scans. */
  private live: Uint8Array;
  private lastSeen: Float64Array;
  /**
   * The records, `stride` bytes each, through four views of one buffer: first seen (float64), then
   * per sketch its estimate (float32, NaN when a register rose since), its first EXACT_VALUES value
   * hashes (int32), how many (uint8; EXACT_VALUES + 1: more than that) and its registers (uint8).
   */
  private records: ArrayBuffer;
  private f64: Float64Array;
  private f32: Float32Array;
  private i32: Int32Array;
  private u8: Uint8Array;
  private readonly stride: number;
  private readonly estimatesAt: number;
  private readonly exactAt: number;
  private readonly countsAt: number;
  private readonly registersAt: number;
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
    this.lastSeen = new Float64Array(this.capacity);
    this.estimatesAt = 8;
    this.exactAt = this.estimatesAt + 4 * sketches;
    this.countsAt = this.exactAt + 4 * EXACT_VALUES * sketches;
    this.registersAt = this.countsAt + sketches;
    this.stride = Math.ceil((this.registersAt + SKETCH_REGISTERS * sketches) / 8) * 8;
    // Byte offsets into the records are taken as 32-bit integers (`>> 2`, `>> 3`).
    if (maxKeys * this.stride >= 2 ** 31)
      throw new Error(`a history table of ${maxKeys} keys would need ${maxKeys * this.stride} bytes of records: at most 2 GiB`);
    this.records = new ArrayBuffer(this.capacity * this.stride);
    this.f64 = new Float64Array(this.records);
    this.f32 = new Float32Array(this.records);
    this.i32 = new Int32Array(this.records);
    this.u8 = new Uint8Array(this.records);
  }

  get size(): number {
    return this.count;
  }

  /** Bytes held in typed arrays now. */
  get bytes(): number {
    return this.live.byteLength + this.lastSeen.byteLength + this.records.byteLength + this.index.bytes;
  }

  /** Typed-array bytes per key at capacity (the index is sized for twice the keys, two int32 each). */
  static bytesPerKey(sketches: number): number {
    const record = Math.ceil((8 + sketches * (4 + 4 * EXACT_VALUES + 1 + SKETCH_REGISTERS)) / 8) * 8;
    return 1 + 8 + record + 4 + 2 * 2 * 4;
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
    const first = (slot * this.stride) >> 3;
    if (t < this.f64[first]) this.f64[first] = t;
    if (t > this.lastSeen[slot]) this.lastSeen[slot] = t;
  }

  firstSeenOf(slot: number): number {
    return this.f64[(slot * this.stride) >> 3];
  }

  lastSeenOf(slot: number): number {
    return this.lastSeen[slot];
  }

  /** Adds a value (by its 32-bit hash, well mixed) to sketch `s` of the key. */
  addDistinct(slot: number, s: number, valueHash: number): void {
    const base = slot * this.stride;
    const u8 = this.u8;
    const countAt = base + this.countsAt + s;
    const n = u8[countAt];
    if (n <= EXACT_VALUES) {
      const at = ((base + this.exactAt) >> 2) + s * EXACT_VALUES;
      const exact = this.i32;
      let seen = false;
      for (let i = 0; i < n && !seen; i++) seen = exact[at + i] === valueHash;
      if (!seen) {
        if (n < EXACT_VALUES) exact[at + n] = valueHash;
        u8[countAt] = n + 1;
      }
    }
    const j = valueHash & (SKETCH_REGISTERS - 1);
    const rest = valueHash >>> INDEX_BITS;
    // Position of the leftmost 1 in the 27 remaining bits (28 when they are all zero).
    const rank = rest === 0 ? 32 - INDEX_BITS + 1 : Math.clz32(rest) - INDEX_BITS + 1;
    const at = base + this.registersAt + s * SKETCH_REGISTERS;
    if (rank <= u8[at + j]) return;
    u8[at + j] = rank;
    this.f32[((base + this.estimatesAt) >> 2) + s] = NaN;
  }

  /** Distinct values of sketch `s` so far: exact up to EXACT_VALUES, then estimated (≈ 18 % error). */
  distinct(slot: number, s: number): number {
    const base = slot * this.stride;
    const n = this.u8[base + this.countsAt + s];
    if (n <= EXACT_VALUES) return n;
    const k = ((base + this.estimatesAt) >> 2) + s;
    // Kept as float32, as it always was: the same rounding whenever it is made.
    if (Number.isNaN(this.f32[k])) this.f32[k] = estimate(this.u8, base + this.registersAt + s * SKETCH_REGISTERS);
    return Math.max(EXACT_VALUES + 1, Math.round(this.f32[k]));
  }

  private insert(h: number, key: string, t: number): number {
    if (this.count >= this.maxKeys) this.evictOldest(Math.max(1, Math.floor(this.maxKeys / 20)));
    let slot = this.free.pop();
    if (slot === undefined) {
      if (this.used === this.capacity) this.grow();
      slot = this.used++;
    }
    this.live[slot] = 1;
    this.lastSeen[slot] = t;
    // Estimates 0 and the exact values' counts and registers zero (the exact values are read only below their count).
    const base = slot * this.stride;
    this.u8.fill(0, base, base + this.stride);
    this.f64[base >> 3] = t;
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
    this.lastSeen = widen(this.lastSeen, next, (n) => new Float64Array(n));
    const records = new ArrayBuffer(next * this.stride);
    new Uint8Array(records).set(this.u8);
    this.records = records;
    this.f64 = new Float64Array(records);
    this.f32 = new Float32Array(records);
    this.i32 = new Int32Array(records);
    this.u8 = new Uint8Array(records);
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
