import { widen } from './window-table';

/** Bytes per click in the id column. */
const WIDTH = 16;
/** Kinds 0 … 16: the id is that many ASCII characters, all in the column. */
const INLINE_MAX = WIDTH;
/** A canonical lowercase UUID (8-4-4-4-12 hex digits), as its 16 bytes. */
const UUID = 17;
/** `c<p>.<UUID>` (the engine's minted click id, DESIGN §2) for partitions 0 … MAX_PARTITION: the UUID's bytes. */
const MINTED = 18;
/** ASCII too long for the column: its first characters, its length and the row holding the rest. */
const WIDE = 0xfe;
/** Anything else (beyond 64 characters, or not ASCII): the string itself, in a Map. */
const ELSEWHERE = 0xff;
const MAX_PARTITION = WIDE - 1 - MINTED;

// A wide id's 16 bytes: its first WIDE_HEAD characters, its length, its row (32 bits, little-endian).
const WIDE_HEAD = 11;
const WIDE_LENGTH_AT = 11;
const WIDE_ROW_AT = 12;
/** Wide ids up to SHORT_MAX characters take a short row, up to LONG_MAX (the contract's maximum) a long one. */
const SHORT_MAX = 40;
const LONG_MAX = 64;

/** Where a UUID's 16 bytes are in its text: the position of each byte's two hex digits. */
const UUID_DIGITS = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
const UUID_LENGTH = 36;
/** Lowercase hex digits' character codes, by value. */
const HEX = Uint8Array.from('0123456789abcdef', (c) => c.charCodeAt(0));

/**
 * The click store's ids, one per slot, in 17 bytes of typed arrays a click: a sender's id of up to
 * 16 ASCII characters as its characters; the engine's minted id (`c<p>.<uuidv7>`, 39 characters)
 * and any canonical lowercase UUID as the UUID's 16 bytes, the partition in the kind byte; other
 * ASCII ids up to 64 characters as their first characters here and the rest in a row of their own
 * (`ByteRows`); anything else (non-ASCII, longer) as the string in a Map. `matches` compares text
 * with text whatever the form, so two ids match only when they are the same string: an id spelled
 * like a minted one in another case, or with a leading zero in its partition, is kept as its
 * characters and never meets the packed one.
 */
export class ClickIdColumn {
  private bytes: Uint8Array;
  private kinds: Uint8Array;
  private readonly short = new ByteRows(SHORT_MAX - WIDE_HEAD);
  private readonly long = new ByteRows(LONG_MAX - WIDE_HEAD);
  private readonly elsewhere = new Map<number, string>();

  constructor(capacity: number) {
    this.bytes = new Uint8Array(capacity * WIDTH);
    this.kinds = new Uint8Array(capacity);
  }

  /** Room for slots up to `capacity` − 1. */
  grow(capacity: number): void {
    this.bytes = widen(this.bytes, capacity * WIDTH, (n) => new Uint8Array(n));
    this.kinds = widen(this.kinds, capacity, (n) => new Uint8Array(n));
  }

  /** Keeps `id` in `slot` (empty, or emptied by `release`). */
  set(slot: number, id: string): void {
    const bytes = this.bytes;
    const at = slot * WIDTH;
    const n = id.length;
    if (n <= INLINE_MAX && this.ascii(id, 0, n, bytes, at)) {
      this.kinds[slot] = n;
      return;
    }
    const uuidAt = n - UUID_LENGTH;
    const kind = uuidAt === 0 ? UUID : uuidAt > 0 ? mintedKind(id, uuidAt) : -1;
    if (kind >= 0 && packUuid(id, uuidAt, bytes, at)) {
      this.kinds[slot] = kind;
      return;
    }
    if (n > INLINE_MAX && n <= LONG_MAX && this.ascii(id, 0, WIDE_HEAD, bytes, at)) {
      const rows = n <= SHORT_MAX ? this.short : this.long;
      const row = rows.take();
      if (this.ascii(id, WIDE_HEAD, n, rows.bytes, row * rows.width)) {
        bytes[at + WIDE_LENGTH_AT] = n;
        bytes[at + WIDE_ROW_AT] = row & 0xff;
        bytes[at + WIDE_ROW_AT + 1] = (row >>> 8) & 0xff;
        bytes[at + WIDE_ROW_AT + 2] = (row >>> 16) & 0xff;
        bytes[at + WIDE_ROW_AT + 3] = row >>> 24;
        this.kinds[slot] = WIDE;
        return;
      }
      rows.give(row);
    }
    this.kinds[slot] = ELSEWHERE;
    this.elsewhere.set(slot, id);
  }

  /** Lets go of what `slot`'s id holds outside the column. */
  release(slot: number): void {
    const kind = this.kinds[slot];
    if (kind === WIDE) {
      const at = slot * WIDTH;
      (this.bytes[at + WIDE_LENGTH_AT] <= SHORT_MAX ? this.short : this.long).give(this.rowAt(at));
    } else if (kind === ELSEWHERE) {
      this.elsewhere.delete(slot);
    }
    this.kinds[slot] = 0;
  }

  /** Whether the id kept in `slot` is `id`, character for character. */
  matches(slot: number, id: string): boolean {
    const kind = this.kinds[slot];
    const bytes = this.bytes;
    const at = slot * WIDTH;
    const n = id.length;
    if (kind <= INLINE_MAX) return n === kind && sameAscii(id, 0, n, bytes, at);
    if (kind === UUID) return n === UUID_LENGTH && sameUuid(id, 0, bytes, at);
    if (kind === WIDE) {
      if (n !== bytes[at + WIDE_LENGTH_AT] || !sameAscii(id, 0, WIDE_HEAD, bytes, at)) return false;
      const rows = n <= SHORT_MAX ? this.short : this.long;
      return sameAscii(id, WIDE_HEAD, n, rows.bytes, this.rowAt(at) * rows.width);
    }
    if (kind === ELSEWHERE) return this.elsewhere.get(slot) === id;
    return n > UUID_LENGTH && mintedKind(id, n - UUID_LENGTH) === kind && sameUuid(id, n - UUID_LENGTH, bytes, at);
  }

  /** Ids kept outside the column (wide rows in use, strings in the Map), for tests. */
  get outside(): { rows: number; strings: number } {
    return { rows: this.short.taken + this.long.taken, strings: this.elsewhere.size };
  }

  private rowAt(at: number): number {
    const b = this.bytes;
    return b[at + WIDE_ROW_AT] | (b[at + WIDE_ROW_AT + 1] << 8) | (b[at + WIDE_ROW_AT + 2] << 16) | (b[at + WIDE_ROW_AT + 3] << 24);
  }

  /** Copies characters `from` … `to` − 1 of `s` to `into` at `at`; false (some copied) when one is not ASCII. */
  private ascii(s: string, from: number, to: number, into: Uint8Array, at: number): boolean {
    for (let i = from; i < to; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) return false;
      into[at + i - from] = c;
    }
    return true;
  }
}

function sameAscii(s: string, from: number, to: number, bytes: Uint8Array, at: number): boolean {
  for (let i = from; i < to; i++) if (s.charCodeAt(i) !== bytes[at + i - from]) return false;
  return true;
}

/** Whether `s` from `from` is the lowercase UUID whose bytes are at `at` (dashes included). */
function sameUuid(s: string, from: number, bytes: Uint8Array, at: number): boolean {
  if (s.charCodeAt(from + 8) !== 45 || s.charCodeAt(from + 13) !== 45 || s.charCodeAt(from + 18) !== 45 || s.charCodeAt(from + 23) !== 45) {
    return false;
  }
  for (let i = 0; i < 16; i++) {
    const b = bytes[at + i];
    const p = from + UUID_DIGITS[i];
    if (s.charCodeAt(p) !== HEX[b >>> 4] || s.charCodeAt(p + 1) !== HEX[b & 15]) return false;
  }
  return true;
}

/** Packs the lowercase UUID in `s` from `from` into 16 bytes at `at`; false when it is not one. */
function packUuid(s: string, from: number, bytes: Uint8Array, at: number): boolean {
  if (s.charCodeAt(from + 8) !== 45 || s.charCodeAt(from + 13) !== 45 || s.charCodeAt(from + 18) !== 45 || s.charCodeAt(from + 23) !== 45) {
    return false;
  }
  for (let i = 0; i < 16; i++) {
    const p = from + UUID_DIGITS[i];
    const hi = hexValue(s.charCodeAt(p));
    const lo = hexValue(s.charCodeAt(p + 1));
    if (hi < 0 || lo < 0) return false;
    bytes[at + i] = (hi << 4) | lo;
  }
  return true;
}

/** A lowercase hex digit's value, else -1 (upper case is another id, kept as its characters). */
function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/**
 * The kind of an id whose characters before `uuidAt` are `c<p>.` with `p` written the canonical way
 * (no leading zero) and at most MAX_PARTITION, else -1.
 */
function mintedKind(s: string, uuidAt: number): number {
  // c, one to three digits, a dot.
  if (uuidAt < 3 || uuidAt > 5 || s.charCodeAt(0) !== 99 || s.charCodeAt(uuidAt - 1) !== 46) return -1;
  if (uuidAt > 3 && s.charCodeAt(1) === 48) return -1;
  let p = 0;
  for (let i = 1; i < uuidAt - 1; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    p = p * 10 + (c - 48);
  }
  return p <= MAX_PARTITION ? MINTED + p : -1;
}

/** Fixed-width byte rows handed out and taken back: the rest of ids too long for the id column. */
class ByteRows {
  bytes = new Uint8Array(0);
  private free = new Int32Array(0);
  private freeCount = 0;
  private rows = 0;
  taken = 0;

  constructor(readonly width: number) {}

  /** A row not in use (the rows grow when all are). */
  take(): number {
    this.taken++;
    if (this.freeCount > 0) return this.free[--this.freeCount];
    if (this.rows * this.width === this.bytes.length) {
      const rows = Math.max(64, Math.ceil(this.rows * 1.5));
      this.bytes = widen(this.bytes, rows * this.width, (n) => new Uint8Array(n));
      this.free = widen(this.free, rows, (n) => new Int32Array(n));
    }
    return this.rows++;
  }

  give(row: number): void {
    this.taken--;
    this.free[this.freeCount++] = row;
  }
}
