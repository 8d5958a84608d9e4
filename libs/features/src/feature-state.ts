import type { ClickEvent, ConversionEvent } from '@app/contracts';
import { BoundedMap } from './bounded-map';
import { IpClass, classifyIp } from './ip';
import { SlidingCounts } from './sliding-counts';
import { UserAgentClass, classifyUserAgent } from './user-agent';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Window indexes of the click velocity counters. */
export const MINUTE_WINDOW = 0;
export const HOUR_WINDOW = 1;
export const DAY_WINDOW = 2;

const VELOCITY_WINDOWS = [
  { name: '1m', spanMs: MINUTE, buckets: 6 },
  { name: '1h', spanMs: HOUR, buckets: 12 },
  { name: '24h', spanMs: DAY, buckets: 24 },
];

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
  valid: boolean;
  reasonCodes: readonly string[];
  /** Conversions credited to this click so far (duplicates excluded). */
  conversions: number;
}

/** Everything the click rules (and later the model) read about one click. */
export interface ClickObservation {
  t: number;
  ip: IpClass;
  ua: UserAgentClass;
  ipClicks: { minute: number; hour: number; day: number };
  /** Seconds since the same IP + user agent + offer + publisher last clicked; null if not within memory. */
  secondsSinceDuplicate: number | null;
}

/** Everything the conversion rules read about one conversion. */
export interface ConversionObservation {
  t: number;
  click: ClickRecord | null;
  ctitSeconds: number | null;
  /** The first conversion that used the same order id for the same advertiser. */
  duplicateOrderOf: string | null;
}

export interface FeatureStateOptions {
  maxClicks: number;
  maxKeys: number;
  /** Clicks older than this (event time) are forgotten; conversions for them go to the database. */
  attributionWindowMs: number;
  duplicateClickWindowMs: number;
}

export const DEFAULT_FEATURE_OPTIONS: FeatureStateOptions = {
  maxClicks: 1_000_000,
  maxKeys: 1_000_000,
  attributionWindowMs: 30 * DAY,
  duplicateClickWindowMs: 10 * MINUTE,
};

/**
 * The streaming state behind every feature: velocity windows, recent clicks for attribution,
 * order ids. Pure and driven by event time, so a replay of the same events rebuilds the same
 * state (live scoring, restart rebuild, training and evaluation share this one code path).
 */
export class FeatureState {
  private readonly ipCounts: SlidingCounts;
  private readonly lastDuplicateKey: BoundedMap<string, number>;
  private readonly clicks: BoundedMap<string, ClickRecord>;
  private readonly orders: BoundedMap<string, string>;
  private latest = 0;

  constructor(readonly options: FeatureStateOptions = DEFAULT_FEATURE_OPTIONS) {
    this.ipCounts = new SlidingCounts(VELOCITY_WINDOWS, options.maxKeys);
    this.lastDuplicateKey = new BoundedMap(options.maxKeys);
    this.clicks = new BoundedMap(options.maxClicks);
    this.orders = new BoundedMap(options.maxClicks);
  }

  /** Counts the click in every window and returns what its rules need. */
  observeClick(e: ClickEvent): ClickObservation {
    const t = Date.parse(e.ts);
    this.advance(t);
    const ip = classifyIp(e.ip);
    const slot = this.ipCounts.add(ip.normalized, t);
    const dupKey = `${ip.normalized}\u0000${e.userAgent}\u0000${e.offerId}\u0000${e.publisherId}`;
    const previous = this.lastDuplicateKey.get(dupKey);
    this.lastDuplicateKey.delete(dupKey); // re-insert: keeps insertion order ≈ recency
    this.lastDuplicateKey.set(dupKey, previous === undefined ? t : Math.max(previous, t));
    return {
      t,
      ip,
      ua: classifyUserAgent(e.userAgent),
      ipClicks: {
        minute: this.ipCounts.countSlot(slot, MINUTE_WINDOW, t),
        hour: this.ipCounts.countSlot(slot, HOUR_WINDOW, t),
        day: this.ipCounts.countSlot(slot, DAY_WINDOW, t),
      },
      secondsSinceDuplicate:
        previous === undefined || t - previous > this.options.duplicateClickWindowMs ? null : Math.max(0, t - previous) / SECOND,
    };
  }

  /** Keeps a judged click for attribution. */
  rememberClick(record: ClickRecord): void {
    this.clicks.set(record.id, record);
  }

  /** A click still in memory. */
  click(id: string): ClickRecord | undefined {
    return this.clicks.get(id);
  }

  /**
   * Reads the conversion's features; `fallback` is the click found elsewhere (database) when it
   * is no longer in memory.
   */
  observeConversion(e: ConversionEvent, advertiserId: string | null, fallback: ClickRecord | null): ConversionObservation {
    const t = Date.parse(e.ts);
    this.advance(t);
    const click = this.clicks.get(e.clickId) ?? fallback;
    const first = e.orderId && advertiserId ? this.orders.get(orderKey(advertiserId, e.orderId)) : undefined;
    return {
      t,
      click,
      ctitSeconds: click ? (t - click.t) / SECOND : null,
      duplicateOrderOf: first !== undefined && first !== e.id ? first : null,
    };
  }

  /** Records a conversion that was credited (not a duplicate) against its click and order id. */
  creditConversion(e: ConversionEvent, advertiserId: string | null, click: ClickRecord | null): void {
    if (e.orderId && advertiserId) {
      const key = orderKey(advertiserId, e.orderId);
      if (!this.orders.has(key)) this.orders.set(key, e.id);
    }
    if (click) {
      click.conversions++;
      if (!this.clicks.has(click.id)) this.clicks.set(click.id, click);
    }
  }

  /** Sizes, for metrics and the memory benchmark. */
  stats(): { clicks: number; ipKeys: number; duplicateKeys: number; orders: number; evictions: number } {
    return {
      clicks: this.clicks.size,
      ipKeys: this.ipCounts.size,
      duplicateKeys: this.lastDuplicateKey.size,
      orders: this.orders.size,
      evictions: this.clicks.evictions + this.ipCounts.evictions,
    };
  }

  private advance(t: number): void {
    if (t <= this.latest) return;
    this.latest = t;
    const attribution = t - this.options.attributionWindowMs;
    this.clicks.dropWhile((c) => c.t < attribution);
    const duplicates = t - this.options.duplicateClickWindowMs;
    this.lastDuplicateKey.dropWhile((seen) => seen < duplicates);
  }
}

function orderKey(advertiserId: string, orderId: string): string {
  return `${advertiserId}\u0000${orderId}`;
}
