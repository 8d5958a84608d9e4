import { ClickIdColumn } from './click-ids';
import { KeyIndex, SlotKeys, hashPart } from './key-index';
import { widen } from './window-table';
import { ipv4Number } from './ip';
import { CodeLists, StringPool } from './string-pool';

/** What the scorer remembers of a click, to attribute and judge its conversions. */
export interface ClickRecord {
  id: string;
  t: number;
  offerId: string;
  publisherId: string;
  subId: string | null;
  ip: string;
  userAgent: string;
  deviceId: string | null;
  /** Country of the click: IP-derived, else declared. */
  country: string | null;
  /** The country the tracker declared (device locale, headers), if any. */
  declaredCountry: string | null;
  valid: boolean;
  /** The click's risk score and model probability, and whether it had a referrer (model inputs). */
  risk: number;
  probability: number | null;
  referrer: boolean;
  reasonCodes: readonly string[];
  /** Conversions credited to this click so far (duplicates excluded). */
  conversions: number;
}

const VALID = 1;
const REFERRER = 2;
/** The `ips` column holds the address as a 32-bit number (a canonical IPv4 address), not a pool id. */
const IPV4 = 4;

/**
 * The clicks the scorer keeps for attribution (up to a million), column by column in typed arrays,
 * found by id through a hash index: no object, string or JS array slot per click, about 72 bytes
 * of columns and 20 of index a click. The id sits in a byte column (`ClickIdColumn`: the engine's
 * minted ids as their UUID's 16 bytes); the offers, publishers, user agents, devices and countries
 * clicks share are pooled strings (`StringPool`, 16-bit ids while they fit), an IPv4 address is its
 * 32-bit number, the reason codes one of the distinct lists (`CodeLists`). A million clicks as objects and strings cost their
 * headers, held the old generation's pages half empty among short-lived verdicts, and every garbage
 * collection walked them. Oldest first out, in insertion order (≈ event time): evicted beyond
 * `max`, expired by `dropOlderThan`. `get` hands out a copy.
 */
export class ClickStore implements SlotKeys {
  private readonly index: KeyIndex;
  private capacity: number;
  private readonly free: number[] = [];
  private used = 0;
  // Insertion order: a ring of slots.
  private order: Int32Array;
  private head = 0;
  private count = 0;
  /**
   * Offers, publishers, sub-ids, user agents and countries: a few thousand distinct values, so their
   * columns hold 16-bit ids until the pool has handed out more (then all six widen to 32 bits).
   * Devices and addresses other than IPv4, hundreds of thousands, are pooled apart (`many`).
   */
  private readonly pool = new StringPool();
  private readonly many = new StringPool();
  private narrow = true;
  private readonly codeLists = new CodeLists();
  /** Code lists past `CodeLists`' ids, by slot (rare). */
  private readonly codesElsewhere = new Map<number, readonly string[]>();
  private readonly ids: ClickIdColumn;
  private offerIds: PoolIds;
  private publisherIds: PoolIds;
  private subIds: PoolIds;
  private ips: Uint32Array;
  private userAgents: PoolIds;
  private deviceIds: Int32Array;
  private countries: PoolIds;
  private declaredCountries: PoolIds;
  /** The reason codes' list id; CODES_ELSEWHERE: in `codesElsewhere`. */
  private codes: Uint16Array;
  private t: Float64Array;
  private risk: Float64Array;
  /** NaN: no model score. */
  private probability: Float64Array;
  private conversions: Int32Array;
  private flags: Uint8Array;
  /** Clicks dropped because the store was full, before their attribution window ended. */
  evictions = 0;

  constructor(
    readonly max: number,
    initialCapacity = 4096,
  ) {
    const n = (this.capacity = Math.max(2, Math.min(initialCapacity, max)));
    this.index = new KeyIndex(n, 0);
    this.order = new Int32Array(n);
    this.ids = new ClickIdColumn(n);
    this.offerIds = new Uint16Array(n);
    this.publisherIds = new Uint16Array(n);
    this.subIds = new Uint16Array(n);
    this.ips = new Uint32Array(n);
    this.userAgents = new Uint16Array(n);
    this.deviceIds = new Int32Array(n);
    this.countries = new Uint16Array(n);
    this.declaredCountries = new Uint16Array(n);
    this.codes = new Uint16Array(n);
    this.t = new Float64Array(n);
    this.risk = new Float64Array(n);
    this.probability = new Float64Array(n);
    this.conversions = new Int32Array(n);
    this.flags = new Uint8Array(n);
  }

  get size(): number {
    return this.count;
  }

  /** Distinct strings the kept clicks share (offers, publishers, devices, …). */
  get pooledStrings(): number {
    return this.pool.size + this.many.size;
  }

  has(id: string): boolean {
    return this.index.findWith(hashPart(id), this, id) >= 0;
  }

  /** A copy of the click, or undefined. */
  get(id: string): ClickRecord | undefined {
    const slot = this.index.findWith(hashPart(id), this, id);
    if (slot < 0) return undefined;
    const probability = this.probability[slot];
    const pool = this.pool;
    const code = this.codes[slot];
    return {
      id,
      t: this.t[slot],
      offerId: pool.text(this.offerIds[slot])!,
      publisherId: pool.text(this.publisherIds[slot])!,
      subId: pool.text(this.subIds[slot]),
      ip: this.ipOf(slot),
      userAgent: pool.text(this.userAgents[slot])!,
      deviceId: this.many.text(this.deviceIds[slot]),
      country: pool.text(this.countries[slot]),
      declaredCountry: pool.text(this.declaredCountries[slot]),
      valid: (this.flags[slot] & VALID) !== 0,
      risk: this.risk[slot],
      probability: Number.isNaN(probability) ? null : probability,
      referrer: (this.flags[slot] & REFERRER) !== 0,
      reasonCodes: code === CODES_ELSEWHERE ? this.codesElsewhere.get(slot)! : this.codeLists.list(code),
      conversions: this.conversions[slot],
    };
  }

  /** Keeps a click (a click already kept is overwritten where it is). */
  put(c: ClickRecord): void {
    const h = hashPart(c.id);
    const pool = this.pool;
    // Counted before a click kept already lets its old values go (most are the same).
    const offerId = pool.acquire(c.offerId);
    const publisherId = pool.acquire(c.publisherId);
    const subId = pool.acquire(c.subId);
    const userAgent = pool.acquire(c.userAgent);
    const deviceId = this.many.acquire(c.deviceId);
    const country = pool.acquire(c.country);
    const declaredCountry = pool.acquire(c.declaredCountry);
    const v4 = ipv4Number(c.ip);
    const ip = v4 >= 0 ? v4 : this.many.acquire(c.ip);
    if (this.narrow && pool.span > NARROW_SPAN) this.widenPoolIds();
    let slot = this.index.findWith(h, this, c.id);
    if (slot >= 0) {
      this.releaseStrings(slot);
    } else {
      if (this.count >= this.max) {
        this.pop();
        this.evictions++;
      }
      slot = this.free.pop() ?? this.next();
      this.ids.set(slot, c.id);
      this.index.add(slot, h, '');
      this.order[(this.head + this.count) % this.capacity] = slot;
      this.count++;
    }
    this.offerIds[slot] = offerId;
    this.publisherIds[slot] = publisherId;
    this.subIds[slot] = subId;
    this.userAgents[slot] = userAgent;
    this.deviceIds[slot] = deviceId;
    this.countries[slot] = country;
    this.declaredCountries[slot] = declaredCountry;
    this.ips[slot] = ip;
    let code = c.reasonCodes.length === 0 ? 0 : this.codeLists.id(c.reasonCodes);
    if (code < 0) {
      code = CODES_ELSEWHERE;
      this.codesElsewhere.set(slot, Object.freeze(c.reasonCodes.slice()));
    }
    this.codes[slot] = code;
    this.t[slot] = c.t;
    this.risk[slot] = c.risk;
    this.probability[slot] = c.probability ?? NaN;
    this.conversions[slot] = c.conversions;
    this.flags[slot] = (c.valid ? VALID : 0) | (c.referrer ? REFERRER : 0) | (v4 >= 0 ? IPV4 : 0);
  }

  /** One more conversion credited to a kept click; false when it is not kept. */
  credit(id: string): boolean {
    const slot = this.index.findWith(hashPart(id), this, id);
    if (slot < 0) return false;
    this.conversions[slot]++;
    return true;
  }

  /**
   * Drops clicks from the oldest end while their time is before `cutoff`; returns the time from
   * which the oldest click left will be due (+Infinity when none), given the window `windowMs`.
   */
  dropOlderThan(cutoff: number, windowMs: number): number {
    while (this.count > 0) {
      const t = this.t[this.order[this.head]];
      if (t >= cutoff) return t + windowMs;
      this.pop();
    }
    return Infinity;
  }

  /** Whether the click in `slot` has the id `id` (for the index). */
  matches(slot: number, id: string): boolean {
    return this.ids.matches(slot, id);
  }

  /** Ids kept outside the id column (rows of long ids, strings), for tests. */
  get idsOutside(): { rows: number; strings: number } {
    return this.ids.outside;
  }

  private ipOf(slot: number): string {
    const v = this.ips[slot];
    if ((this.flags[slot] & IPV4) === 0) return this.many.text(v)!;
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }

  private releaseStrings(slot: number): void {
    const pool = this.pool;
    pool.release(this.offerIds[slot]);
    pool.release(this.publisherIds[slot]);
    pool.release(this.subIds[slot]);
    pool.release(this.userAgents[slot]);
    this.many.release(this.deviceIds[slot]);
    pool.release(this.countries[slot]);
    pool.release(this.declaredCountries[slot]);
    if ((this.flags[slot] & IPV4) === 0) this.many.release(this.ips[slot]);
    if (this.codes[slot] === CODES_ELSEWHERE) this.codesElsewhere.delete(slot);
  }

  private pop(): void {
    const slot = this.order[this.head];
    this.head = (this.head + 1) % this.capacity;
    this.count--;
    this.index.remove(slot);
    this.releaseStrings(slot);
    this.ids.release(slot);
    this.free.push(slot);
  }

  /** The pool handed out an id past 16 bits: its six columns take 32-bit ids from now on. */
  private widenPoolIds(): void {
    this.narrow = false;
    const ids = (a: PoolIds) => widenIds(a, this.capacity, false);
    this.offerIds = ids(this.offerIds);
    this.publisherIds = ids(this.publisherIds);
    this.subIds = ids(this.subIds);
    this.userAgents = ids(this.userAgents);
    this.countries = ids(this.countries);
    this.declaredCountries = ids(this.declaredCountries);
  }

  /** A slot never used yet (growing the arrays when they are full). */
  private next(): number {
    if (this.used === this.capacity) this.grow();
    return this.used++;
  }

  private grow(): void {
    const next = Math.min(Math.ceil(this.capacity * 1.5), this.max);
    // The ring is re-laid from its head, in order.
    const order = new Int32Array(next);
    for (let i = 0; i < this.count; i++) order[i] = this.order[(this.head + i) % this.capacity];
    this.order = order;
    this.head = 0;
    const int32 = (n: number) => new Int32Array(n);
    const ids = (a: PoolIds) => widenIds(a, next, this.narrow);
    this.ids.grow(next);
    this.offerIds = ids(this.offerIds);
    this.publisherIds = ids(this.publisherIds);
    this.subIds = ids(this.subIds);
    this.ips = widen(this.ips, next, (n) => new Uint32Array(n));
    this.userAgents = ids(this.userAgents);
    this.deviceIds = widen(this.deviceIds, next, int32);
    this.countries = ids(this.countries);
    this.declaredCountries = ids(this.declaredCountries);
    this.codes = widen(this.codes, next, (n) => new Uint16Array(n));
    this.t = widen(this.t, next, (n) => new Float64Array(n));
    this.risk = widen(this.risk, next, (n) => new Float64Array(n));
    this.probability = widen(this.probability, next, (n) => new Float64Array(n));
    this.conversions = widen(this.conversions, next, int32);
    this.flags = widen(this.flags, next, (n) => new Uint8Array(n));
    this.index.grow(next);
    this.capacity = next;
  }
}

const CODES_ELSEWHERE = 0xffff;

/** A column of ids into the store's pool of few strings: 16 bits while they fit. */
type PoolIds = Uint16Array | Int32Array;
/** Pool ids below this fit a 16-bit column. */
const NARROW_SPAN = 0x10000;

/** A copy of `a` of `length` ids, 16-bit when `narrow`. */
function widenIds(a: PoolIds, length: number, narrow: boolean): PoolIds {
  const bigger = narrow ? new Uint16Array(length) : new Int32Array(length);
  bigger.set(a);
  return bigger;
}
