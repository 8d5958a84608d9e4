import { KeyIndex, hashPart } from './key-index';
import { widen } from './window-table';

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

/**
 * The clicks the scorer keeps for attribution (up to a million), column by column: numbers in
 * typed arrays, strings as references to shared instances, found by id through a hash index. No
 * object per click: a million objects would cost their headers and every garbage collection would
 * walk them. Oldest first out, in insertion order (≈ event time): evicted beyond `max`, expired by
 * `dropWhile`. `get` hands out a copy.
 */
export class ClickStore {
  private readonly index: KeyIndex;
  private capacity: number;
  private readonly free: number[] = [];
  private used = 0;
  // Insertion order: a ring of slots.
  private order: Int32Array;
  private head = 0;
  private count = 0;
  private ids: string[] = [];
  private offerIds: string[] = [];
  private publisherIds: string[] = [];
  private subIds: (string | null)[] = [];
  private ips: string[] = [];
  private userAgents: string[] = [];
  private deviceIds: (string | null)[] = [];
  private countries: (string | null)[] = [];
  private declaredCountries: (string | null)[] = [];
  private reasonCodes: (readonly string[])[] = [];
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
    this.capacity = Math.max(2, Math.min(initialCapacity, max));
    this.index = new KeyIndex(this.capacity, 1);
    this.order = new Int32Array(this.capacity);
    this.t = new Float64Array(this.capacity);
    this.risk = new Float64Array(this.capacity);
    this.probability = new Float64Array(this.capacity);
    this.conversions = new Int32Array(this.capacity);
    this.flags = new Uint8Array(this.capacity);
  }

  get size(): number {
    return this.count;
  }

  has(id: string): boolean {
    return this.index.find(hashPart(id), id) >= 0;
  }

  /** A copy of the click, or undefined. */
  get(id: string): ClickRecord | undefined {
    const slot = this.index.find(hashPart(id), id);
    if (slot < 0) return undefined;
    const probability = this.probability[slot];
    return {
      id: this.ids[slot],
      t: this.t[slot],
      offerId: this.offerIds[slot],
      publisherId: this.publisherIds[slot],
      subId: this.subIds[slot],
      ip: this.ips[slot],
      userAgent: this.userAgents[slot],
      deviceId: this.deviceIds[slot],
      country: this.countries[slot],
      declaredCountry: this.declaredCountries[slot],
      valid: (this.flags[slot] & VALID) !== 0,
      risk: this.risk[slot],
      probability: Number.isNaN(probability) ? null : probability,
      referrer: (this.flags[slot] & REFERRER) !== 0,
      reasonCodes: this.reasonCodes[slot],
      conversions: this.conversions[slot],
    };
  }

  /** Keeps a click (a click already kept is overwritten where it is). */
  put(c: ClickRecord): void {
    const h = hashPart(c.id);
    let slot = this.index.find(h, c.id);
    if (slot < 0) {
      if (this.count >= this.max) {
        this.pop();
        this.evictions++;
      }
      slot = this.free.pop() ?? this.next();
      this.index.add(slot, h, c.id);
      this.order[(this.head + this.count) % this.capacity] = slot;
      this.count++;
    }
    this.ids[slot] = c.id;
    this.offerIds[slot] = c.offerId;
    this.publisherIds[slot] = c.publisherId;
    this.subIds[slot] = c.subId;
    this.ips[slot] = c.ip;
    this.userAgents[slot] = c.userAgent;
    this.deviceIds[slot] = c.deviceId;
    this.countries[slot] = c.country;
    this.declaredCountries[slot] = c.declaredCountry;
    this.reasonCodes[slot] = c.reasonCodes;
    this.t[slot] = c.t;
    this.risk[slot] = c.risk;
    this.probability[slot] = c.probability ?? NaN;
    this.conversions[slot] = c.conversions;
    this.flags[slot] = (c.valid ? VALID : 0) | (c.referrer ? REFERRER : 0);
  }

  /** One more conversion credited to a kept click; false when it is not kept. */
  credit(id: string): boolean {
    const slot = this.index.find(hashPart(id), id);
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

  private pop(): void {
    const slot = this.order[this.head];
    this.head = (this.head + 1) % this.capacity;
    this.count--;
    this.index.remove(slot);
    // Let the strings go.
    this.ids[slot] = this.offerIds[slot] = this.publisherIds[slot] = this.ips[slot] = this.userAgents[slot] = '';
    this.subIds[slot] = this.deviceIds[slot] = this.countries[slot] = this.declaredCountries[slot] = null;
    this.reasonCodes[slot] = NONE;
    this.free.push(slot);
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
    this.t = widen(this.t, next, (n) => new Float64Array(n));
    this.risk = widen(this.risk, next, (n) => new Float64Array(n));
    this.probability = widen(this.probability, next, (n) => new Float64Array(n));
    this.conversions = widen(this.conversions, next, (n) => new Int32Array(n));
    this.flags = widen(this.flags, next, (n) => new Uint8Array(n));
    this.index.grow(next);
    this.capacity = next;
  }
}

const NONE: readonly string[] = Object.freeze([]);
