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

/** Compares a key with the one its owner keeps for a slot (indexes whose owner keeps the keys). */
export interface SlotKeys {
  matches(slot: number, key: string): boolean;
}

/**
 * Keys of one to four string parts → slots (0 .. capacity − 1, chosen by the owner), through an
 * open-addressing table on hashes the caller computes: linear probing, entries (hash, slot + 1)
 * side by side so a probe that does not match never leaves the table, backward-shift deletion (no
 * tombstones), at most half full. No key is concatenated and nothing is allocated per key beyond
 * the owner's own arrays.
 */
export class KeyIndex {
  private table: Int32Array;
  private mask: number;
  private positions: Int32Array;
  private keysA: string[] = [];
  private keysB: string[] = [];
  // Third and fourth parts, in indexes of four-part keys only.
  private keysC: string[] = [];
  private keysD: string[] = [];
  private readonly wide: boolean;
  /** Parts 0: the owner keeps its keys (in its own form) and finds through `findWith`. */
  private readonly keyless: boolean;

  constructor(
    private capacity: number,
    parts: 0 | 1 | 2 | 4 = 2,
  ) {
    this.wide = parts === 4;
    this.keyless = parts === 0;
    this.positions = new Int32Array(capacity);
    this.table = new Int32Array(2 * tableSizeFor(capacity));
    this.mask = this.table.length / 2 - 1;
  }

  /** The key's slot, or -1. */
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

  /** The slot whose key `owner` says matches `key`, or -1 (indexes of parts 0). */
  findWith(h: number, owner: SlotKeys, key: string): number {
    const table = this.table;
    for (let p = h & this.mask; ; p = (p + 1) & this.mask) {
      const entry = table[2 * p + 1];
      if (entry === 0) return -1;
      if (table[2 * p] === h && owner.matches(entry - 1, key)) return entry - 1;
    }
  }

  /** Files a key (not present) under `slot`. */
  add(slot: number, h: number, a: string, b = '', c = '', d = ''): void {
    if (this.keyless) return this.place(slot, h);
    this.keysA[slot] = a;
    this.keysB[slot] = b;
    if (this.wide) {
      this.keysC[slot] = c;
      this.keysD[slot] = d;
    }
    this.place(slot, h);
  }

  /** Removes the key filed under `slot`: its entry, shifting back the entries that probed past it. */
  remove(slot: number): void {
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
    if (this.keyless) return;
    // Let the strings go.
    this.keysA[slot] = '';
    this.keysB[slot] = '';
    if (this.wide) {
      this.keysC[slot] = '';
      this.keysD[slot] = '';
    }
  }

  /** Room for slots up to `capacity` − 1 (slots keep their keys). */
  grow(capacity: number): void {
    const positions = new Int32Array(capacity);
    positions.set(this.positions);
    this.positions = positions;
    this.capacity = capacity;
    if (2 * tableSizeFor(capacity) > this.table.length) {
      const old = this.table;
      this.table = new Int32Array(2 * tableSizeFor(capacity));
      this.mask = this.table.length / 2 - 1;
      for (let p = 0; p < old.length / 2; p++) if (old[2 * p + 1] !== 0) this.place(old[2 * p + 1] - 1, old[2 * p]);
    }
  }

  /** Bytes of the typed arrays (the key strings are counted by the heap). */
  get bytes(): number {
    return this.table.byteLength + this.positions.byteLength;
  }

  private place(slot: number, h: number): void {
    let p = h & this.mask;
    while (this.table[2 * p + 1] !== 0) p = (p + 1) & this.mask;
    this.table[2 * p] = h;
    this.table[2 * p + 1] = slot + 1;
    this.positions[slot] = p;
  }
}

/** A power of two at least twice the capacity: linear probing stays short below half full. */
function tableSizeFor(capacity: number): number {
  let size = 16;
  while (size < capacity * 2) size *= 2;
  return size;
}
