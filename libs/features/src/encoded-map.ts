import { BoundedMap } from './bounded-map';

/** A record's header: its payload's length in bytes and the handle of the entry it was written for. */
const HEADER = 8;

/** What an `EncodedMap` stores instead of a value (`pack`, then JSON) and how it gets the value back. */
export interface JsonCodec<V, P = unknown> {
  pack(value: V): P;
  unpack(packed: P): V;
}

const AS_IS: JsonCodec<any, any> = { pack: (v) => v, unpack: (p) => p };
const MIN_CAPACITY = 1 << 16;
/** The offset of an entry with no record (a free handle, or one being written). */
const DEAD = 0xffffffff;

/**
 * A `BoundedMap` of JSON values kept as their encoded text in one byte ring off the V8 heap,
 * decoded (a fresh copy) on each `get`: for values that are written on every event and read back
 * rarely (the scorer's outcomes, remembered to answer a redelivery identically). Kept as objects,
 * 50,000 of them (a verdict with its reasons is some thirty objects) lived long enough to be
 * promoted and then died in the old generation, leaving its pages half empty; here each entry is
 * a record in a ring and its key in the index. A value reads back as `JSON.parse(JSON.stringify(v))`
 * (what a consumer of the published outcome receives); a codec may store it more compactly.
 *
 * Same bound and eviction order as `BoundedMap` (an update keeps its place). The ring grows when
 * its oldest record is still live and the next does not fit; otherwise space is taken back from
 * its tail as entries are forgotten or replaced.
 */
export class EncodedMap<V> {
  /** Key → handle of the entry (its offset and length below). */
  private readonly index: BoundedMap<string, number>;
  private ring: Buffer;
  /** Where the oldest record starts and where the next is written; `end`: where data stops when wrapped. */
  private tail = 0;
  private head = 0;
  private end = 0;
  private wrapped = false;
  private offsets: Uint32Array;
  private lengths: Uint32Array;
  /** Handles not in use, and how many there are; handles ≥ `fresh` were never used. */
  private readonly free: Uint32Array;
  private freeCount = 0;
  private fresh = 0;
  private liveBytes = 0;

  constructor(
    readonly max: number,
    private readonly codec: JsonCodec<V, any> = AS_IS,
  ) {
    this.index = new BoundedMap(max, (handle) => this.release(handle));
    this.ring = Buffer.allocUnsafe(MIN_CAPACITY);
    this.offsets = new Uint32Array(max);
    this.lengths = new Uint32Array(max);
    this.free = new Uint32Array(max);
  }

  get size(): number {
    return this.index.size;
  }

  get evictions(): number {
    return this.index.evictions;
  }

  /** Bytes the ring holds (used or not). */
  get capacity(): number {
    return this.ring.length;
  }

  has(key: string): boolean {
    return this.index.has(key);
  }

  get(key: string): V | undefined {
    const handle = this.index.get(key);
    if (handle === undefined) return undefined;
    const start = this.offsets[handle] + HEADER;
    return this.codec.unpack(JSON.parse(this.ring.toString('utf8', start, start + this.lengths[handle])));
  }

  set(key: string, value: V): void {
    const text = JSON.stringify(this.codec.pack(value));
    let handle = this.index.get(key);
    if (handle !== undefined) this.liveBytes -= HEADER + this.lengths[handle];
    else if (this.freeCount > 0 || this.fresh < this.max) {
      // Room without evicting: one write to the index, not two.
      handle = this.freeCount > 0 ? this.free[--this.freeCount] : this.fresh++;
      this.index.set(key, handle);
    } else {
      // Every handle in use: inserted first, the key evicts the oldest, whose handle it takes.
      this.index.set(key, 0);
      handle = this.free[--this.freeCount];
      this.index.set(key, handle);
    }
    // Marks the handle's old record dead before the ring looks for room (it may be at the tail).
    this.offsets[handle] = DEAD;
    const at = this.reserve(HEADER + text.length * 3);
    const bytes = this.ring.write(text, at + HEADER, 'utf8');
    this.ring.writeUInt32LE(bytes, at);
    this.ring.writeUInt32LE(handle, at + 4);
    this.offsets[handle] = at;
    this.lengths[handle] = bytes;
    this.head = at + HEADER + bytes;
    this.liveBytes += HEADER + bytes;
  }

  delete(key: string): boolean {
    const handle = this.index.get(key);
    if (handle === undefined) return false;
    this.index.delete(key);
    this.release(handle);
    return true;
  }

  private release(handle: number): void {
    this.liveBytes -= HEADER + this.lengths[handle];
    this.offsets[handle] = DEAD;
    this.free[this.freeCount++] = handle;
  }

  /** An offset with `n` contiguous free bytes at the head (the record is written there next). */
  private reserve(n: number): number {
    for (;;) {
      if (!this.wrapped) {
        if (this.ring.length - this.head >= n) return this.head;
        if (this.tail >= n) {
          this.end = this.head;
          this.head = 0;
          this.wrapped = true;
          continue;
        }
      } else if (this.tail - this.head >= n) return this.head;
      if (!this.dropTail()) this.grow(n);
    }
  }

  /** Takes back the oldest record's space if it is dead (or the ring is empty); false when it is live. */
  private dropTail(): boolean {
    if (this.wrapped && this.tail === this.end) {
      this.tail = 0;
      this.wrapped = false;
      return true;
    }
    if (!this.wrapped && this.tail === this.head) {
      if (this.head === 0) return false;
      this.tail = this.head = 0;
      return true;
    }
    const handle = this.ring.readUInt32LE(this.tail + 4);
    if (handle < this.fresh && this.offsets[handle] === this.tail) return false;
    this.tail += HEADER + this.ring.readUInt32LE(this.tail);
    return true;
  }

  /**
   * A ring a quarter larger than the records it holds and `n` more bytes: the records are copied
   * in one piece or two (dead ones included, dropped when the tail reaches them) and every live
   * entry's offset moves with its piece. Copying record by record cost 30 µs per insertion while a
   * ring of 50,000 verdicts filled up.
   */
  private grow(n: number): void {
    const first = this.wrapped ? this.end - this.tail : this.head - this.tail;
    const second = this.wrapped ? this.head : 0;
    const used = first + second;
    const next = Buffer.allocUnsafe(Math.max(MIN_CAPACITY, Math.ceil((used + n) * 1.25)));
    this.ring.copy(next, 0, this.tail, this.tail + first);
    if (second) this.ring.copy(next, first, 0, second);
    const offsets = this.offsets;
    for (let h = 0; h < this.fresh; h++) {
      const at = offsets[h];
      if (at === DEAD) continue;
      offsets[h] = this.wrapped && at < this.tail ? at + first : at - this.tail;
    }
    this.ring = next;
    this.tail = 0;
    this.head = used;
    this.end = 0;
    this.wrapped = false;
  }
}
