/**
 * JSON values as compact bytes, written without building their JSON text: what `EncodedMap` keeps
 * for each remembered outcome. `JSON.stringify` of a packed verdict cost about 1.5 µs per event,
 * most of it printing the doubles (scores, MODEL_RISK's contributions) in their shortest decimal
 * form; here a double is its 8 bytes and a string one byte a character when all are below 256,
 * else UTF-8. `readJson(writeJson(v))` is `JSON.parse(JSON.stringify(v))`: the same values,
 * keys in the same order, `undefined` / functions / symbols left out of objects and null in
 * arrays, NaN and ±Infinity null, −0 as 0, `toJSON` called, boxed primitives unboxed.
 */
import { types } from 'node:util';

const enum T {
  Null = 0,
  False = 1,
  True = 2,
  /** An integer in −128…127: one byte. */
  Int8 = 3,
  /** Any other 32-bit integer: four bytes, little-endian. */
  Int32 = 4,
  /** Any other finite number: its eight bytes. */
  Float64 = 5,
  /** A string whose code units are all below 256: its length, then one byte each. */
  Latin1 = 6,
  /** Any other string: its length in bytes (four), then UTF-8 with lone surrogates kept (WTF-8), as JSON keeps them. */
  Utf8 = 7,
  /** Its length, then the elements. */
  Array = 8,
  /** Its number of keys, then each key (a string value) and its value. */
  Object = 9,
}

const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);

/** A growable byte buffer that JSON values are written into, reused from one value to the next. */
export class JsonWriter {
  bytes = new Uint8Array(4096);
  /** Bytes written since the last `reset`. */
  length = 0;

  reset(): void {
    this.length = 0;
  }

  /** Appends `value` as `JSON.stringify` would see it (throws where it throws: BigInt); null for what it has no text for (undefined). */
  write(value: unknown): void {
    if (!this.value(value, '')) this.byte(T.Null);
  }

  private room(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    const next = new Uint8Array(Math.max(this.bytes.length * 2, this.length + n));
    next.set(this.bytes.subarray(0, this.length));
    this.bytes = next;
  }

  private byte(b: number): void {
    this.room(1);
    this.bytes[this.length++] = b;
  }

  /** A count: one byte below 255, else 255 and four bytes. */
  private count(n: number): void {
    if (n < 255) return this.byte(n);
    this.byte(255);
    this.uint32(n);
  }

  private uint32(n: number): void {
    this.room(4);
    const b = this.bytes;
    let at = this.length;
    b[at++] = n & 0xff;
    b[at++] = (n >>> 8) & 0xff;
    b[at++] = (n >>> 16) & 0xff;
    b[at++] = n >>> 24;
    this.length = at;
  }

  private string(s: string): void {
    const n = s.length;
    const start = this.length;
    this.room(6 + n);
    this.bytes[this.length++] = T.Latin1;
    this.count(n);
    const b = this.bytes;
    let at = this.length;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 0xff) {
        this.length = start;
        return this.utf8(s);
      }
      b[at++] = c;
    }
    this.length = at;
  }

  /**
   * UTF-8, a lone surrogate as its own three bytes (WTF-8): exact for every string, as JSON is
   * (it escapes lone surrogates), and as compact as UTF-8 for text.
   */
  private utf8(s: string): void {
    const n = s.length;
    this.room(6 + 3 * n);
    this.bytes[this.length++] = T.Utf8;
    // The byte count is only known afterwards: four bytes kept for it.
    const countAt = this.length;
    this.length += 4;
    const b = this.bytes;
    let at = this.length;
    for (let i = 0; i < n; i++) {
      let c = s.charCodeAt(i);
      if (c < 0x80) b[at++] = c;
      else if (c < 0x800) {
        b[at++] = 0xc0 | (c >>> 6);
        b[at++] = 0x80 | (c & 0x3f);
      } else {
        if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
          const low = s.charCodeAt(i + 1);
          if (low >= 0xdc00 && low <= 0xdfff) {
            c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
            i++;
            b[at++] = 0xf0 | (c >>> 18);
            b[at++] = 0x80 | ((c >>> 12) & 0x3f);
            b[at++] = 0x80 | ((c >>> 6) & 0x3f);
            b[at++] = 0x80 | (c & 0x3f);
            continue;
          }
        }
        b[at++] = 0xe0 | (c >>> 12);
        b[at++] = 0x80 | ((c >>> 6) & 0x3f);
        b[at++] = 0x80 | (c & 0x3f);
      }
    }
    const bytes = at - countAt - 4;
    b[countAt] = bytes & 0xff;
    b[countAt + 1] = (bytes >>> 8) & 0xff;
    b[countAt + 2] = (bytes >>> 16) & 0xff;
    b[countAt + 3] = bytes >>> 24;
    this.length = at;
  }

  private number(v: number): void {
    // −0 passes as an integer and is written as 0, as JSON prints it.
    if ((v | 0) === v) {
      if (v >= -128 && v <= 127) {
        this.room(2);
        this.bytes[this.length++] = T.Int8;
        this.bytes[this.length++] = v & 0xff;
        return;
      }
      this.byte(T.Int32);
      this.uint32(v >>> 0);
      return;
    }
    if (!Number.isFinite(v)) return this.byte(T.Null);
    this.room(9);
    const b = this.bytes;
    let at = this.length;
    b[at++] = T.Float64;
    f64[0] = v;
    for (let i = 0; i < 8; i++) b[at++] = f64Bytes[i];
    this.length = at;
  }

  /**
   * Writes `v` as the value of `key` (an array's index as a number: made a string only for
   * `toJSON`); false when JSON would leave it out.
   */
  /** JSON.stringify's SerializeJSONProperty: `toJSON` once, then the value as it is. */
  private value(v: unknown, key: string | number): boolean {
    if ((typeof v === 'object' && v !== null) || typeof v === 'function' || typeof v === 'bigint') {
      const toJSON = (v as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') v = toJSON.call(v, String(key));
    }
    return this.serialize(v, key);
  }

  private serialize(v: unknown, key: string | number): boolean {
    if (typeof v === 'string') {
      this.string(v);
      return true;
    }
    if (typeof v === 'number') {
      this.number(v);
      return true;
    }
    if (v === null) {
      this.byte(T.Null);
      return true;
    }
    if (typeof v === 'boolean') {
      this.byte(v ? T.True : T.False);
      return true;
    }
    if (typeof v !== 'object') {
      if (typeof v === 'bigint') throw new TypeError('Do not know how to serialize a BigInt');
      // undefined, functions, symbols: left out of an object, null in an array.
      return false;
    }
    const o = v as Record<string, unknown>;
    if (Array.isArray(o)) {
      const n = o.length;
      this.byte(T.Array);
      this.count(n);
      for (let i = 0; i < n; i++) if (!this.value(o[i], i)) this.byte(T.Null);
      return true;
    }
    const proto: unknown = Object.getPrototypeOf(o);
    if (proto !== Object.prototype && proto !== null) {
      // Boxed primitives by their internal slot, as JSON does (another realm's, a subclass's).
      if (types.isNumberObject(o)) return this.serialize(Number(o), key);
      if (types.isStringObject(o)) return this.serialize(String(o), key);
      if (types.isBooleanObject(o)) return this.serialize(o.valueOf(), key);
      if (types.isBigIntObject(o)) throw new TypeError('Do not know how to serialize a BigInt');
    }
    this.byte(T.Object);
    // The number of keys written is only known afterwards: four bytes kept for it.
    this.room(4);
    const countAt = this.length;
    this.length += 4;
    let written = 0;
    for (const k of Object.keys(o)) {
      const before = this.length;
      this.string(k);
      if (this.value(o[k], k)) written++;
      else this.length = before;
    }
    const b = this.bytes;
    b[countAt] = written & 0xff;
    b[countAt + 1] = (written >>> 8) & 0xff;
    b[countAt + 2] = (written >>> 16) & 0xff;
    b[countAt + 3] = written >>> 24;
    return true;
  }
}

/** Reads back one value written by `JsonWriter` from `bytes` at `offset`. */
export function readJson(bytes: Uint8Array, offset: number): unknown {
  const r = new Reader(bytes, offset);
  return r.value();
}

class Reader {
  constructor(
    private readonly b: Uint8Array,
    private at: number,
  ) {}

  private count(): number {
    const n = this.b[this.at++];
    return n < 255 ? n : this.uint32();
  }

  private uint32(): number {
    const b = this.b;
    const at = this.at;
    this.at += 4;
    return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
  }

  value(): unknown {
    const b = this.b;
    switch (b[this.at++] as T) {
      case T.Null:
        return null;
      case T.False:
        return false;
      case T.True:
        return true;
      case T.Int8:
        return (b[this.at++] << 24) >> 24;
      case T.Int32:
        return this.uint32() | 0;
      case T.Float64:
        for (let i = 0; i < 8; i++) f64Bytes[i] = b[this.at++];
        return f64[0];
      case T.Latin1: {
        const n = this.count();
        let s = '';
        for (let i = 0; i < n; i++) s += String.fromCharCode(b[this.at++]);
        return s;
      }
      case T.Utf8: {
        const end = this.uint32() + this.at;
        let s = '';
        while (this.at < end) {
          const c = b[this.at++];
          if (c < 0x80) s += String.fromCharCode(c);
          else if (c < 0xe0) s += String.fromCharCode(((c & 0x1f) << 6) | (b[this.at++] & 0x3f));
          else if (c < 0xf0) {
            s += String.fromCharCode(((c & 0x0f) << 12) | ((b[this.at] & 0x3f) << 6) | (b[this.at + 1] & 0x3f));
            this.at += 2;
          } else {
            const p = ((c & 0x07) << 18) | ((b[this.at] & 0x3f) << 12) | ((b[this.at + 1] & 0x3f) << 6) | (b[this.at + 2] & 0x3f);
            this.at += 3;
            s += String.fromCharCode(0xd800 + ((p - 0x10000) >>> 10), 0xdc00 + ((p - 0x10000) & 0x3ff));
          }
        }
        return s;
      }
      case T.Array: {
        const n = this.count();
        const a = new Array<unknown>(n);
        for (let i = 0; i < n; i++) a[i] = this.value();
        return a;
      }
      case T.Object: {
        const n = this.uint32();
        const o: Record<string, unknown> = {};
        for (let i = 0; i < n; i++) {
          const k = this.value() as string;
          // JSON.parse makes "__proto__" an own key; an assignment would set the prototype.
          if (k === '__proto__') Object.defineProperty(o, k, { value: this.value(), enumerable: true, writable: true, configurable: true });
          else o[k] = this.value();
        }
        return o;
      }
      default:
        throw new Error(`unreadable JSON bytes at ${this.at - 1}`);
    }
  }
}
