import type { ClickEvent, ConversionEvent } from '@app/contracts';
import { BoundedMap } from './bounded-map';
import { IpClass, classifyIp } from './ip';
import { SlidingCounts, WindowSpec } from './sliding-counts';
import { UserAgentClass, classifyUserAgent } from './user-agent';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const w = (name: string, spanMs: number, buckets: number): WindowSpec => ({ name, spanMs, buckets });

// Velocity windows: the rules' limits are per minute, hour and day.
const IP_WINDOWS = [w('1m', MINUTE, 6), w('1h', HOUR, 12), w('24h', DAY, 24)];
const HOUR_DAY_WINDOWS = [w('1h', HOUR, 12), w('24h', DAY, 24)];
const HOUR_WINDOW = [w('1h', HOUR, 12)];
const DEVICE_WINDOWS = [w('1h', HOUR, 12), w('24h', DAY, 24)];
const DAY_WINDOW = [w('24h', DAY, 24)];
// Publisher aggregates need volume and must outlast conversion lag: a week in half-days.
const WEEK_WINDOW = [w('7d', 7 * DAY, 14)];

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

/** Clicks and conversions of one publisher (or one sub-id) over the last week. */
export interface PublisherWindow {
  clicks: number;
  conversions: number;
  /** Conversions whose click came more than `lateAfterHours` before. */
  lateConversions: number;
}

/** Everything the click rules (and the model) read about one click. */
export interface ClickObservation {
  t: number;
  ip: IpClass;
  ua: UserAgentClass;
  ipClicks: { minute: number; hour: number; day: number };
  /** Null when the click carries no device id. */
  deviceClicks: { hour: number; day: number } | null;
  /** Seconds since the same IP + user agent + offer + publisher last clicked; null if not recently. */
  secondsSinceDuplicate: number | null;
  /** Seconds since the IP's previous click (within the day), or null. */
  secondsSinceIpPrevious: number | null;
  /** Clicks of the IP on this offer, and with this user agent, in the last hour (this one included). */
  ipOfferHour: number;
  ipUserAgentHour: number;
  /** Distinct offers and publishers the IP clicked in the last 24 h, distinct IPs of the device. */
  ipDistinctOffers: number;
  ipDistinctPublishers: number;
  deviceDistinctIps: number | null;
  /** The publisher's and sub-id's last week as of this click. */
  publisher: PublisherWindow;
  subId: PublisherWindow | null;
}

/** Everything the conversion rules (and the model) read about one conversion. */
export interface ConversionObservation {
  t: number;
  click: ClickRecord | null;
  ctitSeconds: number | null;
  /** The first conversion that used the same order id for the same advertiser. */
  duplicateOrderOf: string | null;
  /** Conversions in the last 24 h from the user's IP / device (this one included); null if unknown. */
  ipConversions: number | null;
  deviceConversions: number | null;
  /** The attributed publisher's and sub-id's last week, this conversion included. */
  publisher: PublisherWindow | null;
  subId: PublisherWindow | null;
}

export interface FeatureStateOptions {
  maxClicks: number;
  maxKeys: number;
  /** Clicks older than this (event time) are forgotten; conversions for them go to the database. */
  attributionWindowMs: number;
  duplicateClickWindowMs: number;
  /** A conversion this long after its click counts as late (click-spamming signal). */
  lateAfterMs: number;
}

export const DEFAULT_FEATURE_OPTIONS: FeatureStateOptions = {
  maxClicks: 1_000_000,
  maxKeys: 1_000_000,
  attributionWindowMs: 30 * DAY,
  duplicateClickWindowMs: 10 * MINUTE,
  lateAfterMs: DAY,
};

/**
 * The streaming state behind every feature: velocity windows, recent clicks for attribution,
 * order ids, publisher aggregates. Pure and driven by event time, so a replay of the same events
 * rebuilds the same state (live scoring, restart rebuild, training and evaluation share this one
 * code path). Every structure is bounded: windows expire keys, maps evict their oldest entries.
 */
export class FeatureState {
  private readonly ipClicks: SlidingCounts;
  private readonly deviceClicks: SlidingCounts;
  private readonly ipConversions: SlidingCounts;
  private readonly deviceConversions: SlidingCounts;
  private readonly publisherClicks: SlidingCounts;
  private readonly publisherConversions: SlidingCounts;
  private readonly publisherLate: SlidingCounts;
  private readonly ipOffer: SlidingCounts;
  private readonly ipUserAgent: SlidingCounts;
  private readonly ipPublisher: SlidingCounts;
  private readonly deviceIp: SlidingCounts;
  private readonly ipDistinct: SlidingCounts;
  private readonly deviceDistinct: SlidingCounts;
  private readonly lastDuplicateKey: BoundedMap<string, number>;
  private readonly clicks: BoundedMap<string, ClickRecord>;
  private readonly orders: BoundedMap<string, string>;
  private latest = 0;

  constructor(readonly options: FeatureStateOptions = DEFAULT_FEATURE_OPTIONS) {
    const keys = options.maxKeys;
    this.ipClicks = new SlidingCounts(IP_WINDOWS, keys);
    this.deviceClicks = new SlidingCounts(DEVICE_WINDOWS, keys);
    this.ipConversions = new SlidingCounts(DAY_WINDOW, keys);
    this.deviceConversions = new SlidingCounts(DAY_WINDOW, keys);
    // Publishers and their sub-ids are few compared with IPs.
    this.publisherClicks = new SlidingCounts(WEEK_WINDOW, Math.min(keys, 200_000));
    this.publisherConversions = new SlidingCounts(WEEK_WINDOW, Math.min(keys, 200_000));
    this.publisherLate = new SlidingCounts(WEEK_WINDOW, Math.min(keys, 200_000));
    // Pair counters for the model: (IP, offer), (IP, user agent), (IP, publisher), (device, IP);
    // a pair seen for the first time in a day adds one to the IP's (device's) distinct count.
    this.ipOffer = new SlidingCounts(HOUR_DAY_WINDOWS, keys);
    this.ipUserAgent = new SlidingCounts(HOUR_WINDOW, keys);
    this.ipPublisher = new SlidingCounts(DAY_WINDOW, keys);
    this.deviceIp = new SlidingCounts(DAY_WINDOW, keys);
    this.ipDistinct = new SlidingCounts(DAY_WINDOW, keys);
    this.deviceDistinct = new SlidingCounts(DAY_WINDOW, keys);
    this.lastDuplicateKey = new BoundedMap(keys);
    this.clicks = new BoundedMap(options.maxClicks);
    this.orders = new BoundedMap(options.maxClicks);
  }

  /** Counts the click in every window and returns what its rules need. */
  observeClick(e: ClickEvent): ClickObservation {
    const t = Date.parse(e.ts);
    this.advance(t);
    const ip = classifyIp(e.ip);
    const ipKey = ip.normalized;
    const previousIpClick = this.ipClicks.lastSeenOf(ipKey);
    const ipSlot = this.ipClicks.add(ipKey, t);
    let deviceClicks: ClickObservation['deviceClicks'] = null;
    let deviceDistinctIps: number | null = null;
    if (e.deviceId) {
      const slot = this.deviceClicks.add(e.deviceId, t);
      deviceClicks = { hour: this.deviceClicks.countSlot(slot, 0, t), day: this.deviceClicks.countSlot(slot, 1, t) };
      deviceDistinctIps = this.distinct(this.deviceIp, `${e.deviceId}\u0000${ipKey}`, this.deviceDistinct, e.deviceId, 0, t);
    }
    const ipOfferSlot = this.ipOffer.add(`${ipKey}\u0000${e.offerId}`, t);
    const ipOfferHour = this.ipOffer.countSlot(ipOfferSlot, 0, t);
    if (this.ipOffer.countSlot(ipOfferSlot, 1, t) === 1) this.ipDistinct.add(`o\u0000${ipKey}`, t);
    const ipUserAgentHour = this.ipUserAgent.countSlot(this.ipUserAgent.add(`${ipKey}\u0000${e.userAgent}`, t), 0, t);
    const ipDistinctPublishers = this.distinct(
      this.ipPublisher,
      `${ipKey}\u0000${e.publisherId}`,
      this.ipDistinct,
      `p\u0000${ipKey}`,
      0,
      t,
    );
    this.publisherClicks.add(publisherKey(e.publisherId), t);
    if (e.subId) this.publisherClicks.add(subIdKey(e.publisherId, e.subId), t);
    const dupKey = `${ip.normalized}\u0000${e.userAgent}\u0000${e.offerId}\u0000${e.publisherId}`;
    const previous = this.lastDuplicateKey.get(dupKey);
    this.lastDuplicateKey.delete(dupKey); // re-insert: keeps insertion order ≈ recency
    this.lastDuplicateKey.set(dupKey, previous === undefined ? t : Math.max(previous, t));
    return {
      t,
      ip,
      ua: classifyUserAgent(e.userAgent),
      ipClicks: {
        minute: this.ipClicks.countSlot(ipSlot, 0, t),
        hour: this.ipClicks.countSlot(ipSlot, 1, t),
        day: this.ipClicks.countSlot(ipSlot, 2, t),
      },
      deviceClicks,
      secondsSinceDuplicate:
        previous === undefined || t - previous > this.options.duplicateClickWindowMs ? null : Math.max(0, t - previous) / SECOND,
      secondsSinceIpPrevious: previousIpClick === null || t - previousIpClick > DAY ? null : Math.max(0, t - previousIpClick) / SECOND,
      ipOfferHour,
      ipUserAgentHour,
      ipDistinctOffers: this.ipDistinct.count(`o\u0000${ipKey}`, 0, t),
      ipDistinctPublishers,
      deviceDistinctIps,
      publisher: this.publisherWindow(e.publisherId, null, t),
      subId: e.subId ? this.publisherWindow(e.publisherId, e.subId, t) : null,
    };
  }

  /** Counts the pair; if it is new within the day, counts one more distinct value for `owner`. */
  private distinct(pairs: SlidingCounts, pair: string, owners: SlidingCounts, owner: string, window: number, t: number): number {
    const slot = pairs.add(pair, t);
    if (pairs.countSlot(slot, pairs.windows.length - 1, t) === 1) owners.add(owner, t);
    return owners.count(owner, window, t);
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
   * Counts the conversion and reads its features; `fallback` is the click found elsewhere
   * (database) when it is no longer in memory.
   */
  observeConversion(e: ConversionEvent, advertiserId: string | null, fallback: ClickRecord | null): ConversionObservation {
    const t = Date.parse(e.ts);
    this.advance(t);
    const click = this.clicks.get(e.clickId) ?? fallback;
    const first = e.orderId && advertiserId ? this.orders.get(orderKey(advertiserId, e.orderId)) : undefined;
    const ctit = click ? t - click.t : null;
    const ip = e.ip ? classifyIp(e.ip).normalized : (click?.ip ?? null);
    const device = e.deviceId ?? click?.deviceId ?? null;
    let publisher: PublisherWindow | null = null;
    let subId: PublisherWindow | null = null;
    if (click) {
      const late = ctit !== null && ctit > this.options.lateAfterMs;
      publisher = this.countPublisher(publisherKey(click.publisherId), t, late);
      if (click.subId) subId = this.countPublisher(subIdKey(click.publisherId, click.subId), t, late);
    }
    return {
      t,
      click,
      ctitSeconds: ctit === null ? null : ctit / SECOND,
      duplicateOrderOf: first !== undefined && first !== e.id ? first : null,
      ipConversions: ip ? this.ipConversions.countSlot(this.ipConversions.add(ip, t), 0, t) : null,
      deviceConversions: device ? this.deviceConversions.countSlot(this.deviceConversions.add(device, t), 0, t) : null,
      publisher,
      subId,
    };
  }

  /** The publisher's (or sub-id's) last week as of time `t`, without counting anything. */
  publisherWindow(publisherId: string, subId: string | null, t: number): PublisherWindow {
    const key = subId ? subIdKey(publisherId, subId) : publisherKey(publisherId);
    return {
      clicks: this.publisherClicks.count(key, 0, t),
      conversions: this.publisherConversions.count(key, 0, t),
      lateConversions: this.publisherLate.count(key, 0, t),
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
  stats(): {
    clicks: number;
    ipKeys: number;
    deviceKeys: number;
    pairKeys: number;
    duplicateKeys: number;
    orders: number;
    evictions: number;
  } {
    return {
      clicks: this.clicks.size,
      ipKeys: this.ipClicks.size,
      deviceKeys: this.deviceClicks.size,
      pairKeys: this.ipOffer.size + this.ipUserAgent.size + this.ipPublisher.size + this.deviceIp.size,
      duplicateKeys: this.lastDuplicateKey.size,
      orders: this.orders.size,
      evictions:
        this.clicks.evictions + this.ipClicks.evictions + this.deviceClicks.evictions + this.ipOffer.evictions + this.ipUserAgent.evictions,
    };
  }

  /** The latest event time seen. */
  get now(): number {
    return this.latest;
  }

  private countPublisher(key: string, t: number, late: boolean): PublisherWindow {
    const conversions = this.publisherConversions.countSlot(this.publisherConversions.add(key, t), 0, t);
    const lateConversions = late ? this.publisherLate.countSlot(this.publisherLate.add(key, t), 0, t) : this.publisherLate.count(key, 0, t);
    return { clicks: this.publisherClicks.count(key, 0, t), conversions, lateConversions };
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
function publisherKey(publisherId: string): string {
  return publisherId;
}
function subIdKey(publisherId: string, subId: string): string {
  return `${publisherId}\u0000${subId}`;
}
