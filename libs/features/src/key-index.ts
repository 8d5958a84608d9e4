import { randomBytes } from 'node:crypto';

/**
 * The secret of the table hash, drawn once per process. Keys come from senders (DESIGN §3a: user
 * agents, device ids, sub-ids, click ids): with a hash they could compute, they could send keys
 * that all land in one probe run and turn every lookup of every event into a walk along it (hash
 * flooding). Nothing the scorer outputs depends on where a key sits in a table, so the secret
 * changes no result; it is never logged or exported.
 */
const SECRET = randomBytes(8);
const K0 = SECRET.readInt32LE(0);
const K1 = SECRET.readInt32LE(4);

/** FNV-1a's offset basis: `keyHash`'s second part by default (a constant since the tables hash with `hashPart`). */
const EMPTY_PART_HASH = 0x811c9dc5 | 0;

/**
 * The table hash of one key part (IP, offer, user agent, …); callers hash each part once per
 * event. Keyed with the process's secret: HalfSipHash-1-3 (Aumasson & Bernstein's SipHash on
 * 32-bit words; Linux's hsiphash on 32-bit machines), fed two UTF-16 code units per word, with the
 * length in the last word. A sender who does not know the secret cannot choose keys that collide,
 * not even in the low bits that pick a bucket.
 */
export function hashPart(s: string): number {
  return halfSipHash(K0, K1, s);
}

function halfSipHash(k0: number, k1: number, s: string): number {
  let v0 = k0;
  let v1 = k1;
  let v2 = k0 ^ 0x6c796765;
  let v3 = k1 ^ 0x74656462;
  const n = s.length;
  const end = n & ~1;
  for (let i = 0; i < end; i += 2) {
    const m = s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16);
    v3 ^= m;
    // One SipRound (c = 1).
    v0 = (v0 + v1) | 0;
    v1 = (v1 << 5) | (v1 >>> 27);
    v1 ^= v0;
    v0 = (v0 << 16) | (v0 >>> 16);
    v2 = (v2 + v3) | 0;
    v3 = (v3 << 8) | (v3 >>> 24);
    v3 ^= v2;
    v0 = (v0 + v3) | 0;
    v3 = (v3 << 7) | (v3 >>> 25);
    v3 ^= v0;
    v2 = (v2 + v1) | 0;
    v1 = (v1 << 13) | (v1 >>> 19);
    v1 ^= v2;
    v2 = (v2 << 16) | (v2 >>> 16);
    v0 ^= m;
  }
  // The last word: the length (mod 256, as SipHash does) in the top byte, an odd last unit below.
  const b = (n << 24) | (end < n ? s.charCodeAt(end) : 0);
  v3 ^= b;
  v0 = (v0 + v1) | 0;
  v1 = (v1 << 5) | (v1 >>> 27);
  v1 ^= v0;
  v0 = (v0 << 16) | (v0 >>> 16);
  v2 = (v2 + v3) | 0;
  v3 = (v3 << 8) | (v3 >>> 24);
  v3 ^= v2;
  v0 = (v0 + v3) | 0;
  v3 = (v3 << 7) | (v3 >>> 25);
  v3 ^= v0;
  v2 = (v2 + v1) | 0;
  v1 = (v1 << 13) | (v1 >>> 19);
  v1 ^= v2;
  v2 = (v2 << 16) | (v2 >>> 16);
  v0 ^= b;
  v2 ^= 0xff;
  // Three finishing SipRounds (d = 3).
  for (let r = 0; r < 3; r++) {
    v0 = (v0 + v1) | 0;
    v1 = (v1 << 5) | (v1 >>> 27);
    v1 ^= v0;
    v0 = (v0 << 16) | (v0 >>> 16);
    v2 = (v2 + v3) | 0;
    v3 = (v3 << 8) | (v3 >>> 24);
    v3 ^= v2;
    v0 = (v0 + v3) | 0;
    v3 = (v3 << 7) | (v3 >>> 25);
    v3 ^= v0;
    v2 = (v2 + v1) | 0;
    v1 = (v1 << 13) | (v1 >>> 19);
    v1 ^= v2;
    v2 = (v2 << 16) | (v2 >>> 16);
  }
  return v1 ^ v3;
}

/**
 * The secret of the distinct-count sketches' value hash offline: fixed and public (the bytes of
 * "arbiter1"), so that `arbiter evaluate`, training, the simulator and the scoring digest give the
 * same figures everywhere. A deployment uses its own (`DeploymentSecretRepository`), never this one.
 */
export const OFFLINE_DISTINCT_SECRET = '6172626974657231';

/**
 * A distinct-count secret (16 hex digits, 64 bits) as `valueHash` takes it. `id` names the key
 * without revealing it: what the memoised IP and user-agent classifications (which every rule
 * sees) are tagged with. One object per secret (`distinctKey` interns them).
 */
export interface DistinctKey {
  readonly id: number;
  readonly k0: number;
  readonly k1: number;
}

/** The keys made so far, by secret: a process holds one or two (a deployment's, the offline one). */
const distinctKeys = new Map<string, DistinctKey>();

/**
 * The key of a secret: the same object for the same secret, so that states (the backtester's two
 * engines) that share a secret share the value hashes memoised on classifications.
 */
export function distinctKey(hex: string): DistinctKey {
  const known = distinctKeys.get(hex);
  if (known) return known;
  if (!/^[0-9a-f]{16}$/.test(hex)) throw new Error('a distinct-count secret is 16 lower-case hex digits');
  const b = Buffer.from(hex, 'hex');
  const key: DistinctKey = Object.freeze({ id: distinctKeys.size + 1, k0: b.readInt32LE(0), k1: b.readInt32LE(4) });
  distinctKeys.set(hex, key);
  return key;
}

/**
 * The hash of a value a distinct-count sketch counts (a device id, an IP, a user agent, a click
 * id): HalfSipHash-1-3, like `hashPart`, but keyed with the deployment's secret, not the
 * process's, because the sketches' estimates are outputs (model features) that the deployment's
 * other processes (scorers, their rebuilds, the API's backtests) must reproduce. Keyed, because a
 * sketch sees only the hash: a sender who could compute it could rotate device ids (or user
 * agents, or IPs) that all hash alike, and one IP with hundreds of devices would count as one
 * device. No public hash would do, however strong: a HyperLogLog register reads 5 bits and a rank,
 * so values that all land in one register with a low rank are found by trying about a hundred per value.
 */
export function valueHash(key: DistinctKey, s: string): number {
  return halfSipHash(key.k0, key.k1, s);
}

/**
 * The hash of a key of two parts, from the parts' hashes (a single-part key has `b` = ''): keyed
 * with the secret the parts' hashes were keyed with (`hashPart`'s or `valueHash`'s).
 */
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
  /**
   * A slot's key parts side by side (`width` per slot: 1, 2 or 4), so that a match reads one
   * cache line of them, not one per part.
   */
  private keys: string[] = [];
  private readonly width: number;
  private readonly wide: boolean;
  /** Parts 0: the owner keeps its keys (in its own form) and finds through `findWith`. */
  private readonly keyless: boolean;

  constructor(
    private capacity: number,
    parts: 0 | 1 | 2 | 4 = 2,
  ) {
    this.wide = parts === 4;
    this.keyless = parts === 0;
    this.width = parts === 4 ? 4 : 2;
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
      const at = (entry - 1) * this.width;
      const keys = this.keys;
      if (keys[at] === a && keys[at + 1] === b && (!this.wide || (keys[at + 2] === c && keys[at + 3] === d))) {
        return entry - 1;
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
    const at = slot * this.width;
    const keys = this.keys;
    // Filled in slot order (slots are handed out from 0 up), so the array stays packed.
    while (keys.length < at) keys.push('');
    keys[at] = a;
    keys[at + 1] = b;
    if (this.wide) {
      keys[at + 2] = c;
      keys[at + 3] = d;
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
    const at = slot * this.width;
    this.keys[at] = '';
    this.keys[at + 1] = '';
    if (this.wide) {
      this.keys[at + 2] = '';
      this.keys[at + 3] = '';
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

  /**
   * How far lookups walk: the keys, the mean number of entries a lookup of a present key reads,
   * and the longest run of occupied entries (what a lookup of an absent key may read). Short
   * (about 1.5 and a few dozen at half full) unless keys collide; O(entries), for diagnostics.
   */
  probeStats(): ProbeStats {
    const size = this.table.length / 2;
    let keys = 0;
    let probes = 0;
    let longestRun = 0;
    let run = 0;
    // Start the scan just past an empty entry, so that no run is split by the wrap-around.
    let start = 0;
    while (start < size && this.table[2 * start + 1] !== 0) start++;
    for (let k = 1; k <= size; k++) {
      const p = (start + k) & this.mask;
      if (this.table[2 * p + 1] === 0) {
        run = 0;
        continue;
      }
      run++;
      if (run > longestRun) longestRun = run;
      keys++;
      probes += ((p - (this.table[2 * p] & this.mask)) & this.mask) + 1;
    }
    return { keys, meanProbes: keys === 0 ? 0 : probes / keys, longestRun };
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

/** What `KeyIndex.probeStats` reports. */
export interface ProbeStats {
  keys: number;
  meanProbes: number;
  longestRun: number;
}

/** A power of two at least twice the capacity: linear probing stays short below half full. */
function tableSizeFor(capacity: number): number {
  let size = 16;
  while (size < capacity * 2) size *= 2;
  return size;
}
