import { JsonWriter, readJson } from './json-bytes';
import { KeyIndex, hashPart, keyHash } from './key-index';

/** A record's header: its payload's length in bytes and the handle of the entry it was written for. */
const HEADER = 8;

/** What an `EncodedMap` stores instead of a value (`pack`, then as JSON bytes) and how it gets the value back. */
export interface JsonCodec<V, P = unknown> {
  /** `built`: what `EncodedMap.set` was told of the value (a codec may then skip checks it would make). */
  pack(value: V, built?: boolean): P;
  unpack(packed: P): V;
}

const AS_IS: JsonCodec<any, any> = { pack: (v) => v, unpack: (p) => p };
const MIN_CAPACITY = 1 << 16;
/** The offset of an entry with no record (a free handle, or one being written). */
const DEAD = 0xffffffff;

/**
 * Like a `BoundedMap`, of JSON values kept encoded (`JsonWriter`) in one byte ring off the V8 heap,
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
  /**
   * Key → handle of the entry (its offset and length below): an open-addressing index on the keyed
   * table hash. A JS Map of the same 50,000 ids cost several cache misses per lookup, and every
   * event looks its id up (is it a redelivery?) and then files it.
   */
  private readonly index: KeyIndex;
  /** Handles in the order their keys were first set (what is forgotten first); stale entries skipped. */
  private queue: Int32Array;
  private queueHead = 0;
  private queueTail = 0;
  /** Where each live handle sits in `queue` (−1: not live). */
  private readonly queuedAt: Int32Array;
  private count = 0;
  /** Entries forgotten for the bound (not deletions). */
  evictions = 0;
  /** The last key hashed and its hash: a key is looked up and then set, one after the other. */
  private lastKey = '';
  private lastHash = keyHash(hashPart(''));
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
  /** Where a value is encoded before it is copied into the ring (its size is known only then). */
  private readonly writer = new JsonWriter();

  constructor(
    readonly max: number,
    private readonly codec: JsonCodec<V, any> = AS_IS,
  ) {
    this.index = new KeyIndex(max, 1);
    this.queue = new Int32Array(2 * max);
    this.queuedAt = new Int32Array(max).fill(-1);
    this.ring = Buffer.allocUnsafe(MIN_CAPACITY);
    this.offsets = new Uint32Array(max);
    this.lengths = new Uint32Array(max);
    this.free = new Uint32Array(max);
  }

  get size(): number {
    return this.count;
  }

  /** Bytes the ring holds (used or not). */
  get capacity(): number {
    return this.ring.length;
  }

  has(key: string): boolean {
    return this.index.find(this.hashOf(key), key) >= 0;
  }

  get(key: string): V | undefined {
    const handle = this.index.find(this.hashOf(key), key);
    if (handle < 0) return undefined;
    return this.codec.unpack(readJson(this.ring, this.offsets[handle] + HEADER));
  }

  /** `built`: passed to the codec's `pack` (the value was just made by its one producer: see the codec). */
  set(key: string, value: V, built = false): void {
    const writer = this.writer;
    writer.reset();
    writer.write(this.codec.pack(value, built));
    const bytes = writer.length;
    const h = this.hashOf(key);
    let handle = this.index.find(h, key);
    if (handle >= 0) this.liveBytes -= HEADER + this.lengths[handle];
    else {
      // An eviction frees a handle for the new key.
      if (this.count >= this.max) this.evictOldest();
      handle = this.freeCount > 0 ? this.free[--this.freeCount] : this.fresh++;
      this.index.add(handle, h, key);
      this.enqueue(handle);
      this.count++;
    }
    // Marks the handle's old record dead before the ring looks for room (it may be at the tail).
    this.offsets[handle] = DEAD;
    const at = this.reserve(HEADER + bytes);
    this.ring.set(bytes < writer.bytes.length ? writer.bytes.subarray(0, bytes) : writer.bytes, at + HEADER);
    this.ring.writeUInt32LE(bytes, at);
    this.ring.writeUInt32LE(handle, at + 4);
    this.offsets[handle] = at;
    this.lengths[handle] = bytes;
    this.head = at + HEADER + bytes;
    this.liveBytes += HEADER + bytes;
  }

  delete(key: string): boolean {
    const handle = this.index.find(this.hashOf(key), key);
    if (handle < 0) return false;
    this.release(handle);
    return true;
  }

  private hashOf(key: string): number {
    if (key !== this.lastKey) {
      this.lastKey = key;
      this.lastHash = keyHash(hashPart(key));
    }
    return this.lastHash;
  }

  private release(handle: number): void {
    this.index.remove(handle);
    this.queuedAt[handle] = -1;
    this.count--;
    this.liveBytes -= HEADER + this.lengths[handle];
    this.offsets[handle] = DEAD;
    this.free[this.freeCount++] = handle;
  }

  /** Forgets the entry set longest ago (as `BoundedMap` does: insertion order, an update keeps its place). */
  private evictOldest(): void {
    while (this.queueHead < this.queueTail) {
      const at = this.queueHead++;
      const handle = this.queue[at];
      // Entries of deleted keys (their handle free, or reused and queued again further on) are skipped.
      if (this.queuedAt[handle] !== at) continue;
      this.release(handle);
      this.evictions++;
      return;
    }
  }

  private enqueue(handle: number): void {
    if (this.queueTail === this.queue.length) {
      // Full: the live entries (at most `max`, half the queue) move to its front, in order.
      let n = 0;
      for (let at = this.queueHead; at < this.queueTail; at++) {
        const h = this.queue[at];
        if (this.queuedAt[h] !== at) continue;
        this.queue[n] = h;
        this.queuedAt[h] = n++;
      }
      this.queueHead = 0;
      this.queueTail = n;
    }
    this.queue[this.queueTail] = handle;
    this.queuedAt[handle] = this.queueTail++;
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
