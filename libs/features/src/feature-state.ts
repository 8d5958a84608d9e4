import type { ClickEvent, ConversionEvent } from '@app/contracts';
import { BoundedMap } from './bounded-map';
import { IpClass, classifyIp } from './ip';
import { WindowSpec, WindowTable, hashPart, keyHash } from './window-table';
import { UserAgentClass, classifyUserAgent } from './user-agent';
import { intern } from './memo';
import { ClickStore } from './click-store';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const w = (name: string, spanMs: number, buckets: number): WindowSpec => ({ name, spanMs, buckets });

// Velocity windows: the rules' limits are per minute, hour and day.
const IP_WINDOWS = [w('1m', MINUTE, 6), w('1h', HOUR, 12), w('24h', DAY, 24)];
const HOUR_WINDOW = [w('1h', HOUR, 12)];
const DEVICE_WINDOWS = [w('1h', HOUR, 12), w('24h', DAY, 24)];
const DAY_WINDOW = [w('24h', DAY, 24)];
// Publisher aggregates need volume and must outlast conversion lag: a week in half-days.
const WEEK_WINDOW = [w('7d', 7 * DAY, 14)];

// For pairs whose only question is "seen within the day?": one bucket, just to be swept after a day.
const PRESENCE_WINDOW = [w('24h', DAY, 1)];

/**
 * Whether a pair last seen at `previous` was seen within the day of `t`, as a 24-bucket (hourly)
 * day window counts it: in the same or one of the 23 hours before (or, for an event that arrives
 * late, after) the hour of `t`.
 */
function sameDay(previous: number, t: number): boolean {
  return Math.abs(Math.floor(t / HOUR) - Math.floor(previous / HOUR)) < 24;
}

// Counters of the per-IP, per-device and per-publisher tables (one key, several counts).
const IP_CLICKS = 0;
const IP_OFFERS = 1;
const IP_PUBLISHERS = 2;
const DEVICE_CLICKS = 0;
const DEVICE_IPS = 1;
const PUB_CLICKS = 0;
const PUB_CONVERSIONS = 1;
const PUB_LATE = 2;

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
  /** The click's ids, one shared copy per distinct value (keep these rather than the event's). */
  offerId: string;
  publisherId: string;
  subIdText: string | null;
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
  /** The whole network's last week: what a publisher's rates are compared with. */
  network: PublisherWindow;
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
  /** The whole network's last week (this conversion included when attributed). */
  network: PublisherWindow;
}

/** The publishers table's key for the whole network (no publisher id contains a NUL). */
const NETWORK_KEY = '\u0000network';

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
  /** Per IP: clicks (1 min, 1 h, 24 h), distinct offers and distinct publishers (24 h). */
  private readonly ips: WindowTable;
  /** Per device: clicks (1 h, 24 h), distinct IPs (24 h). */
  private readonly devices: WindowTable;
  /** Conversions per IP and per device (24 h): few keys, so apart from the click tables. */
  private readonly ipConversions: WindowTable;
  private readonly deviceConversions: WindowTable;
  /** Per publisher (key: publisher, '') and per sub-id (publisher, sub-id): clicks, conversions, late conversions (7 d). */
  private readonly publishers: WindowTable;
  /** Pairs: (IP, offer) 1 h and 24 h, (IP, user agent) 1 h, (IP, publisher) 24 h, (device, IP) 24 h. */
  private readonly ipOffer: WindowTable;
  private readonly ipUserAgent: WindowTable;
  private readonly ipPublisher: WindowTable;
  private readonly deviceIp: WindowTable;
  /** When each (IP, user agent, offer, publisher) last clicked, for DUPLICATE_CLICK (keys idle past the window are swept). */
  private readonly lastClick: WindowTable;
  private readonly clicks: ClickStore;
  private readonly orders: BoundedMap<string, string>;
  private latest = 0;
  /** Event time from which `advance` has something to drop (the oldest entry's expiry). */
  private nextClickExpiry = -Infinity;

  constructor(readonly options: FeatureStateOptions = DEFAULT_FEATURE_OPTIONS) {
    const keys = options.maxKeys;
    this.ips = new WindowTable([IP_WINDOWS, DAY_WINDOW, DAY_WINDOW], keys);
    this.devices = new WindowTable([DEVICE_WINDOWS, DAY_WINDOW], keys);
    this.ipConversions = new WindowTable([DAY_WINDOW], keys);
    this.deviceConversions = new WindowTable([DAY_WINDOW], keys);
    // Publishers and their sub-ids are few compared with IPs.
    this.publishers = new WindowTable([WEEK_WINDOW, WEEK_WINDOW, WEEK_WINDOW], Math.min(keys, 200_000));
    // Pair counters for the model; a pair seen for the first time in a day adds one to the IP's
    // (device's) distinct count.
    // Whether a pair is new within the day needs only when it was last seen: its tables keep a
    // one-bucket day (for sweeping) and no per-hour counts, except (IP, offer)'s hour.
    this.ipOffer = new WindowTable([HOUR_WINDOW, PRESENCE_WINDOW], keys);
    this.ipUserAgent = new WindowTable([HOUR_WINDOW], keys);
    this.ipPublisher = new WindowTable([PRESENCE_WINDOW], keys);
    this.deviceIp = new WindowTable([PRESENCE_WINDOW], keys);
    this.lastClick = new WindowTable([[w('duplicate', options.duplicateClickWindowMs, 1)]], keys, 1024, 4);
    this.clicks = new ClickStore(options.maxClicks);
    this.orders = new BoundedMap(options.maxClicks);
  }

  /** Counts the click in every window and returns what its rules need. */
  observeClick(e: ClickEvent): ClickObservation {
    const t = Date.parse(e.ts);
    this.advance(t);
    const ip = classifyIp(e.ip);
    const ipKey = ip.normalized;
    const hIp = ip.hash;
    const ua = classifyUserAgent(e.userAgent);
    // Keys and kept values share one copy of each id (a million clicks are kept).
    const userAgent = ua.text;
    const offerId = intern(e.offerId);
    const publisherId = intern(e.publisherId);
    const hPublisher = hashPart(e.publisherId);

    const ipHash = keyHash(hIp);
    let ipSlot = this.ips.find(ipHash, ipKey);
    const previousIpClick = ipSlot < 0 ? null : this.ips.lastSeenOf(ipSlot);
    if (ipSlot < 0) ipSlot = this.ips.slot(ipHash, ipKey, '', t);
    this.ips.add(ipSlot, IP_CLICKS, t);

    let deviceClicks: ClickObservation['deviceClicks'] = null;
    let deviceDistinctIps: number | null = null;
    if (e.deviceId) {
      const hDevice = hashPart(e.deviceId);
      const slot = this.devices.slot(keyHash(hDevice), e.deviceId, '', t);
      this.devices.add(slot, DEVICE_CLICKS, t);
      deviceClicks = { hour: this.devices.countSlot(slot, DEVICE_CLICKS, 0, t), day: this.devices.countSlot(slot, DEVICE_CLICKS, 1, t) };
      if (this.firstInDay(this.deviceIp, keyHash(hDevice, hIp), e.deviceId, ipKey, t)) this.devices.add(slot, DEVICE_IPS, t);
      deviceDistinctIps = this.devices.countSlot(slot, DEVICE_IPS, 0, t);
    }

    const hOffer = hashPart(e.offerId);
    const hUserAgent = ua.hash;
    const ipOfferHash = keyHash(hIp, hOffer);
    let ipOfferSlot = this.ipOffer.find(ipOfferHash, ipKey, offerId);
    const offerNewToday = ipOfferSlot < 0 || !sameDay(this.ipOffer.lastSeenOf(ipOfferSlot), t);
    if (ipOfferSlot < 0) ipOfferSlot = this.ipOffer.slot(ipOfferHash, ipKey, offerId, t);
    this.ipOffer.add(ipOfferSlot, 0, t);
    const ipOfferHour = this.ipOffer.countSlot(ipOfferSlot, 0, 0, t);
    if (offerNewToday) this.ips.add(ipSlot, IP_OFFERS, t);
    const ipUserAgentSlot = this.ipUserAgent.slot(keyHash(hIp, hUserAgent), ipKey, userAgent, t);
    this.ipUserAgent.add(ipUserAgentSlot, 0, t);
    const ipUserAgentHour = this.ipUserAgent.countSlot(ipUserAgentSlot, 0, 0, t);
    if (this.firstInDay(this.ipPublisher, keyHash(hIp, hPublisher), ipKey, publisherId, t)) this.ips.add(ipSlot, IP_PUBLISHERS, t);

    const publisherSlot = this.publishers.slot(keyHash(hPublisher), publisherId, '', t);
    this.publishers.add(publisherSlot, PUB_CLICKS, t);
    const networkSlot = this.networkSlot(t);
    this.publishers.add(networkSlot, PUB_CLICKS, t);
    let subIdSlot = -1;
    const subId = e.subId ? intern(e.subId) : (e.subId ?? null);
    if (subId) {
      subIdSlot = this.publishers.slot(keyHash(hPublisher, hashPart(subId)), publisherId, subId, t);
      this.publishers.add(subIdSlot, PUB_CLICKS, t);
    }
    const duplicateHash = keyHash(keyHash(hIp, hUserAgent), keyHash(hOffer, hPublisher));
    let duplicateSlot = this.lastClick.find(duplicateHash, ipKey, userAgent, offerId, publisherId);
    // A key whose last click is out of the window as of the newest event counts as forgotten.
    const lastSeen = duplicateSlot < 0 ? -Infinity : this.lastClick.lastSeenOf(duplicateSlot);
    const previous = lastSeen < this.latest - this.options.duplicateClickWindowMs ? undefined : lastSeen;
    if (duplicateSlot < 0) duplicateSlot = this.lastClick.slot(duplicateHash, ipKey, userAgent, t, offerId, publisherId);
    this.lastClick.add(duplicateSlot, 0, t);
    return {
      t,
      offerId,
      publisherId,
      subIdText: subId,
      ip,
      ua,
      ipClicks: {
        minute: this.ips.countSlot(ipSlot, IP_CLICKS, 0, t),
        hour: this.ips.countSlot(ipSlot, IP_CLICKS, 1, t),
        day: this.ips.countSlot(ipSlot, IP_CLICKS, 2, t),
      },
      deviceClicks,
      secondsSinceDuplicate:
        previous === undefined || t - previous > this.options.duplicateClickWindowMs ? null : Math.max(0, t - previous) / SECOND,
      secondsSinceIpPrevious: previousIpClick === null || t - previousIpClick > DAY ? null : Math.max(0, t - previousIpClick) / SECOND,
      ipOfferHour,
      ipUserAgentHour,
      ipDistinctOffers: this.ips.countSlot(ipSlot, IP_OFFERS, 0, t),
      ipDistinctPublishers: this.ips.countSlot(ipSlot, IP_PUBLISHERS, 0, t),
      deviceDistinctIps,
      publisher: this.windowOf(publisherSlot, t),
      subId: subIdSlot >= 0 ? this.windowOf(subIdSlot, t) : null,
      network: this.windowOf(networkSlot, t),
    };
  }

  private networkSlot(t: number): number {
    return this.publishers.slot(keyHash(hashPart(NETWORK_KEY)), NETWORK_KEY, '', t);
  }

  /** The whole network's last week as of time `t`, without counting anything. */
  networkWindow(t: number): PublisherWindow {
    return this.windowOf(this.networkSlot(t), t);
  }

  /** Notes a pair; true when it was not seen within the day (24 hour buckets) before this event. */
  private firstInDay(pairs: WindowTable, h: number, a: string, b: string, t: number): boolean {
    let slot = pairs.find(h, a, b);
    const first = slot < 0 || !sameDay(pairs.lastSeenOf(slot), t);
    if (slot < 0) slot = pairs.slot(h, a, b, t);
    pairs.add(slot, 0, t);
    return first;
  }

  /** Keeps a judged click for attribution. */
  rememberClick(record: ClickRecord): void {
    if (this.clicks.size === 0) this.nextClickExpiry = record.t + this.options.attributionWindowMs;
    this.clicks.put(record);
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
    const networkSlot = this.networkSlot(t);
    if (click) {
      const late = ctit !== null && ctit > this.options.lateAfterMs;
      this.countPublisher(networkSlot, t, late);
      const hPublisher = hashPart(click.publisherId);
      publisher = this.countPublisher(this.publishers.slot(keyHash(hPublisher), click.publisherId, '', t), t, late);
      if (click.subId) {
        subId = this.countPublisher(
          this.publishers.slot(keyHash(hPublisher, hashPart(click.subId)), click.publisherId, click.subId, t),
          t,
          late,
        );
      }
    }
    return {
      t,
      click,
      ctitSeconds: ctit === null ? null : ctit / SECOND,
      duplicateOrderOf: first !== undefined && first !== e.id ? first : null,
      ipConversions: ip ? countOne(this.ipConversions, ip, t) : null,
      deviceConversions: device ? countOne(this.deviceConversions, device, t) : null,
      publisher,
      subId,
      network: this.windowOf(networkSlot, t),
    };
  }

  /** The publisher's (or sub-id's) last week as of time `t`, without counting anything. */
  publisherWindow(publisherId: string, subId: string | null, t: number): PublisherWindow {
    const hPublisher = hashPart(publisherId);
    const h = subId ? keyHash(hPublisher, hashPart(subId)) : keyHash(hPublisher);
    const slot = this.publishers.find(h, publisherId, subId ?? '');
    return slot < 0 ? { clicks: 0, conversions: 0, lateConversions: 0 } : this.windowOf(slot, t);
  }

  /** Records a conversion that was credited (not a duplicate) against its click and order id. */
  creditConversion(e: ConversionEvent, advertiserId: string | null, click: ClickRecord | null): void {
    if (e.orderId && advertiserId) {
      const key = orderKey(advertiserId, e.orderId);
      if (!this.orders.has(key)) this.orders.set(key, e.id);
    }
    if (click) {
      click.conversions++;
      if (!this.clicks.credit(click.id)) this.rememberClick(click);
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
      ipKeys: this.ips.size,
      deviceKeys: this.devices.size,
      pairKeys: this.ipOffer.size + this.ipUserAgent.size + this.ipPublisher.size + this.deviceIp.size,
      duplicateKeys: this.lastClick.size,
      orders: this.orders.size,
      evictions: this.clicks.evictions + this.ips.evictions + this.devices.evictions + this.ipOffer.evictions + this.ipUserAgent.evictions,
    };
  }

  /** The latest event time seen. */
  get now(): number {
    return this.latest;
  }

  private windowOf(slot: number, t: number): PublisherWindow {
    return {
      clicks: this.publishers.countSlot(slot, PUB_CLICKS, 0, t),
      conversions: this.publishers.countSlot(slot, PUB_CONVERSIONS, 0, t),
      lateConversions: this.publishers.countSlot(slot, PUB_LATE, 0, t),
    };
  }

  private countPublisher(slot: number, t: number, late: boolean): PublisherWindow {
    this.publishers.add(slot, PUB_CONVERSIONS, t);
    if (late) this.publishers.add(slot, PUB_LATE, t);
    return this.windowOf(slot, t);
  }

  /**
   * Forgets clicks past the attribution window. Insertion order is (about) time order, so only the
   * oldest end is looked at — and only once something there can have expired, not on every event.
   */
  private advance(t: number): void {
    if (t <= this.latest) return;
    this.latest = t;
    if (t >= this.nextClickExpiry) {
      const attribution = t - this.options.attributionWindowMs;
      this.nextClickExpiry = this.clicks.dropOlderThan(attribution, this.options.attributionWindowMs);
    }
  }
}

/** Counts one event for a single-part key of a one-counter, one-window table and returns the count. */
function countOne(table: WindowTable, key: string, t: number): number {
  const slot = table.slot(keyHash(hashPart(key)), key, '', t);
  table.add(slot, 0, t);
  return table.countSlot(slot, 0, 0, t);
}

function orderKey(advertiserId: string, orderId: string): string {
  return `${advertiserId}\u0000${orderId}`;
}
