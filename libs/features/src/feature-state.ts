import type { ClickEvent, ConversionEvent } from '@app/contracts';
import { BoundedMap } from './bounded-map';
import { IpClass, classifyIp } from './ip';
import {
  DistinctKey,
  OFFLINE_DISTINCT_SECRET,
  ProbeStats,
  WindowSpec,
  WindowTable,
  distinctKey,
  hashPart,
  keyHash,
  valueHash,
} from './window-table';
import { UserAgentClass, classifyUserAgent } from './user-agent';
import { intern } from './memo';
import { ClickRecord, ClickStore } from './click-store';

export type { ClickRecord };
import { HistoryTable } from './history-table';
import { parseIsoMs } from './iso-time';

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
// Counters of the offer table (24 h): clicks and conversions.
const OFFER_CLICKS = 0;
const OFFER_CONVERSIONS = 1;
// Sketches of the IP and device histories.
const IP_DEVICES = 0;
const IP_VISITORS = 1;
const IP_CLICK_IDS = 2;
const DEVICE_IP_SET = 0;
const DEVICE_USER_AGENTS = 1;
const DEVICE_CLICK_IDS = 2;
/** The offer table's second key part for the offer's own total (no publisher id contains a NUL). */
const OFFER_TOTAL = '\u0000offer';

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
  /** What the IP has shown so far (this click included). */
  ipHistory: IpHistory;
  /** What the device has shown so far (this click included); null when the click carries no device id. */
  deviceHistory: DeviceHistory | null;
  /** Seconds since the same IP and user agent last clicked (within the hour), or null. */
  secondsSinceIpUserAgentPrevious: number | null;
  /** Seconds since the same IP and device id last clicked (within the day), or null (also without a device id). */
  secondsSinceIpDevicePrevious: number | null;
  /** Seconds since the same IP last clicked this offer (within the day), or null. */
  secondsSinceIpOfferPrevious: number | null;
  /** The last 24 h of the offer, of the offer with this publisher, and with this sub-id (this click included). */
  offerDay: DayRate;
  offerPublisherDay: DayRate;
  offerSubIdDay: DayRate | null;
}

/** Clicks and conversions over the last 24 hours (hourly buckets). */
export interface DayRate {
  clicks: number;
  conversions: number;
}

/** An IP's history so far: first seen, distinct device ids, visitors (user agent + device) and click ids. */
export interface IpHistory {
  ageSeconds: number;
  distinctDevices: number;
  distinctVisitors: number;
  distinctClicks: number;
}

/** A device's history so far: first seen, distinct IPs, user agents and click ids. */
export interface DeviceHistory {
  ageSeconds: number;
  distinctIps: number;
  distinctUserAgents: number;
  distinctClicks: number;
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
  /** The conversion's IP's and device's click history as of now (the click's when the conversion names none); null if never seen. */
  ipHistory: IpHistory | null;
  deviceHistory: DeviceHistory | null;
  /** The last 24 h of the click's offer, offer × publisher and offer × sub-id (this conversion included); null without a click. */
  offerDay: DayRate | null;
  offerPublisherDay: DayRate | null;
  offerSubIdDay: DayRate | null;
}

const OFFER_TOTAL_HASH = hashPart(OFFER_TOTAL);

/** The publishers table's key for the whole network (no publisher id contains a NUL). */
const NETWORK_KEY = '\u0000network';
const NETWORK_HASH = keyHash(hashPart(NETWORK_KEY));

export interface FeatureStateOptions {
  maxClicks: number;
  maxKeys: number;
  /** Clicks older than this (event time) are forgotten; conversions for them go to the database. */
  attributionWindowMs: number;
  duplicateClickWindowMs: number;
  /** A conversion this long after its click counts as late (click-spamming signal). */
  lateAfterMs: number;
  /**
   * IPs, and devices, whose history so far (first seen, distinct devices / IPs / user agents / click
   * ids) is kept; past it the least recently seen are dropped (and start over as new).
   */
  maxHistoryKeys: number;
  /** Offer, offer × publisher and offer × sub-id keys of the 24-hour conversion rates. */
  maxOfferKeys: number;
  /**
   * The key of the distinct-count sketches' value hash (16 hex digits): the deployment's own in
   * every process of a deployment (`DeploymentSecretRepository`), so that none of its senders can
   * choose values that count as one and its processes reproduce each other's counts;
   * `OFFLINE_DISTINCT_SECRET` offline.
   */
  distinctSecret: string;
}

export const DEFAULT_FEATURE_OPTIONS: FeatureStateOptions = {
  maxClicks: 1_000_000,
  maxKeys: 1_000_000,
  attributionWindowMs: 30 * DAY,
  duplicateClickWindowMs: 10 * MINUTE,
  lateAfterMs: DAY,
  maxHistoryKeys: 200_000,
  maxOfferKeys: 100_000,
  distinctSecret: OFFLINE_DISTINCT_SECRET,
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
  /** Per IP and per device: first / last seen and distinct counts so far (bounded by maxHistoryKeys each). */
  private readonly ipHistory: HistoryTable;
  private readonly deviceHistory: HistoryTable;
  /** Clicks and conversions (24 h) per offer, offer × publisher, offer × publisher × sub-id. */
  private readonly offers: WindowTable;
  private readonly clicks: ClickStore;
  private readonly orders: BoundedMap<string, string>;
  private latest = 0;
  /** The slot `notePair` noted last (read at once, before another key of the same table is asked for). */
  private pairSlot = -1;
  /** Event time from which `advance` has something to drop (the oldest entry's expiry). */
  private nextClickExpiry = -Infinity;
  /** What `observeClick(e, true)` fills in place of new objects. */
  private readonly scratch = clickScratch();
  /** `options.distinctSecret`, as `valueHash` takes it. */
  private readonly distinctKey: DistinctKey;

  constructor(readonly options: FeatureStateOptions = DEFAULT_FEATURE_OPTIONS) {
    this.distinctKey = distinctKey(options.distinctSecret);
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
    ({ ipHistory: this.ipHistory, deviceHistory: this.deviceHistory, offers: this.offers } = causalTables(options));
    this.clicks = new ClickStore(options.maxClicks);
    this.orders = new BoundedMap(options.maxClicks);
  }

  /**
   * Counts the click in every window and returns what its rules need. `shared`: into one
   * observation (and nested objects) this state reuses for every click, valid until the next
   * call — the scorer reads it while it scores the click and keeps none of it, so a dozen objects
   * per click need not be allocated and collected.
   */
  observeClick(e: ClickEvent, shared = false): ClickObservation {
    const s = shared ? this.scratch : null;
    const t = parseIsoMs(e.ts);
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
    if (ipSlot < 0) ipSlot = this.ips.create(ipHash, ipKey, '', t);
    this.ips.add(ipSlot, IP_CLICKS, t);

    const hUserAgent = ua.hash;
    const hDevice = e.deviceId ? hashPart(e.deviceId) : 0;
    // Value hashes of the distinct-count sketches: keyed with the deployment's secret (`valueHash`),
    // so that a sender cannot choose ids that count as one, yet every process of the deployment
    // counts alike; mixed, so that their low bits spread evenly. The user agent's and the IP's are
    // kept on their memoised classifications (a user agent is a hundred characters or more).
    const key = this.distinctKey;
    const vDevice = e.deviceId ? valueHash(key, e.deviceId) : 0;
    const vClickId = keyHash(valueHash(key, e.id));
    if (ua.valueKey !== key.id) {
      ua.valueHash = valueHash(key, ua.text);
      ua.valueKey = key.id;
    }
    const ipHistory = this.ipHistory.slot(ipHash, ipKey, t);
    this.ipHistory.touch(ipHistory, t);
    if (e.deviceId) this.ipHistory.addDistinct(ipHistory, IP_DEVICES, keyHash(vDevice));
    this.ipHistory.addDistinct(ipHistory, IP_VISITORS, keyHash(ua.valueHash, vDevice));
    this.ipHistory.addDistinct(ipHistory, IP_CLICK_IDS, vClickId);
    const ipHistoryNow = this.ipHistoryOf(ipHistory, t, s?.ipHistory);

    let deviceClicks: ClickObservation['deviceClicks'] = null;
    let deviceDistinctIps: number | null = null;
    let deviceHistoryNow: DeviceHistory | null = null;
    let secondsSinceIpDevicePrevious: number | null = null;
    if (e.deviceId) {
      const deviceHash = keyHash(hDevice);
      const slot = this.devices.slot(deviceHash, e.deviceId, '', t);
      this.devices.add(slot, DEVICE_CLICKS, t);
      const hour = this.devices.countSlot(slot, DEVICE_CLICKS, 0, t);
      const day = this.devices.countSlot(slot, DEVICE_CLICKS, 1, t);
      if (s) {
        deviceClicks = s.deviceClicks;
        deviceClicks.hour = hour;
        deviceClicks.day = day;
      } else deviceClicks = { hour, day };
      const previousPair = this.notePair(this.deviceIp, keyHash(hDevice, hIp), e.deviceId, ipKey, t);
      if (!sameDay(previousPair, t)) this.devices.add(slot, DEVICE_IPS, t);
      secondsSinceIpDevicePrevious = since(previousPair, t, DAY);
      deviceDistinctIps = this.devices.countSlot(slot, DEVICE_IPS, 0, t);
      const history = this.deviceHistory.slot(deviceHash, e.deviceId, t);
      this.deviceHistory.touch(history, t);
      if (ip.valueKey !== key.id) {
        ip.valueHash = valueHash(key, ip.normalized);
        ip.valueKey = key.id;
      }
      this.deviceHistory.addDistinct(history, DEVICE_IP_SET, keyHash(ip.valueHash));
      this.deviceHistory.addDistinct(history, DEVICE_USER_AGENTS, keyHash(ua.valueHash));
      this.deviceHistory.addDistinct(history, DEVICE_CLICK_IDS, vClickId);
      deviceHistoryNow = this.deviceHistoryOf(history, t, s?.deviceHistory);
    }

    const hOffer = hashPart(e.offerId);
    const ipOfferHash = keyHash(hIp, hOffer);
    let ipOfferSlot = this.ipOffer.find(ipOfferHash, ipKey, offerId);
    const previousIpOffer = ipOfferSlot < 0 ? -Infinity : this.ipOffer.lastSeenOf(ipOfferSlot);
    if (ipOfferSlot < 0) ipOfferSlot = this.ipOffer.create(ipOfferHash, ipKey, offerId, t);
    this.ipOffer.add(ipOfferSlot, 0, t);
    const ipOfferHour = this.ipOffer.countSlot(ipOfferSlot, 0, 0, t);
    if (!sameDay(previousIpOffer, t)) this.ips.add(ipSlot, IP_OFFERS, t);
    const previousIpUserAgent = this.notePair(this.ipUserAgent, keyHash(hIp, hUserAgent), ipKey, userAgent, t);
    const ipUserAgentHour = this.ipUserAgent.countSlot(this.pairSlot, 0, 0, t);
    if (!sameDay(this.notePair(this.ipPublisher, keyHash(hIp, hPublisher), ipKey, publisherId, t), t))
      this.ips.add(ipSlot, IP_PUBLISHERS, t);

    const offerDay = this.countOffer(keyHash(hOffer, OFFER_TOTAL_HASH), offerId, OFFER_TOTAL, '', OFFER_CLICKS, t, s?.offerDay);
    const hOfferPublisher = keyHash(hOffer, hPublisher);
    const offerPublisherDay = this.countOffer(hOfferPublisher, offerId, publisherId, '', OFFER_CLICKS, t, s?.offerPublisherDay);

    const publisherSlot = this.publishers.slot(keyHash(hPublisher), publisherId, '', t);
    this.publishers.add(publisherSlot, PUB_CLICKS, t);
    const networkSlot = this.networkSlot(t);
    this.publishers.add(networkSlot, PUB_CLICKS, t);
    let subIdSlot = -1;
    const subId = e.subId ? intern(e.subId) : (e.subId ?? null);
    let offerSubIdDay: DayRate | null = null;
    if (subId) {
      const hSubId = hashPart(subId);
      subIdSlot = this.publishers.slot(keyHash(hPublisher, hSubId), publisherId, subId, t);
      this.publishers.add(subIdSlot, PUB_CLICKS, t);
      offerSubIdDay = this.countOffer(keyHash(hOfferPublisher, hSubId), offerId, publisherId, subId, OFFER_CLICKS, t, s?.offerSubIdDay);
    }
    const duplicateHash = keyHash(keyHash(hIp, hUserAgent), keyHash(hOffer, hPublisher));
    let duplicateSlot = this.lastClick.find(duplicateHash, ipKey, userAgent, offerId, publisherId);
    // A key whose last click is out of the window as of the newest event counts as forgotten.
    const lastSeen = duplicateSlot < 0 ? -Infinity : this.lastClick.lastSeenOf(duplicateSlot);
    const previous = lastSeen < this.latest - this.options.duplicateClickWindowMs ? undefined : lastSeen;
    if (duplicateSlot < 0) duplicateSlot = this.lastClick.create(duplicateHash, ipKey, userAgent, t, offerId, publisherId);
    this.lastClick.add(duplicateSlot, 0, t);
    const ipMinute = this.ips.countSlot(ipSlot, IP_CLICKS, 0, t);
    const ipHour = this.ips.countSlot(ipSlot, IP_CLICKS, 1, t);
    const ipDay = this.ips.countSlot(ipSlot, IP_CLICKS, 2, t);
    const secondsSinceDuplicate =
      previous === undefined || t - previous > this.options.duplicateClickWindowMs ? null : Math.max(0, t - previous) / SECOND;
    const secondsSinceIpPrevious = previousIpClick === null || t - previousIpClick > DAY ? null : Math.max(0, t - previousIpClick) / SECOND;
    const ipDistinctOffers = this.ips.countSlot(ipSlot, IP_OFFERS, 0, t);
    const ipDistinctPublishers = this.ips.countSlot(ipSlot, IP_PUBLISHERS, 0, t);
    const publisher = this.windowOf(publisherSlot, t, s?.publisher);
    const subIdWindow = subIdSlot >= 0 ? this.windowOf(subIdSlot, t, s?.subId) : null;
    const network = this.windowOf(networkSlot, t, s?.network);
    if (!s)
      return {
        t,
        offerId,
        publisherId,
        subIdText: subId,
        ip,
        ua,
        ipClicks: { minute: ipMinute, hour: ipHour, day: ipDay },
        deviceClicks,
        secondsSinceDuplicate,
        secondsSinceIpPrevious,
        ipOfferHour,
        ipUserAgentHour,
        ipDistinctOffers,
        ipDistinctPublishers,
        deviceDistinctIps,
        publisher,
        subId: subIdWindow,
        network,
        ipHistory: ipHistoryNow,
        deviceHistory: deviceHistoryNow,
        secondsSinceIpUserAgentPrevious: since(previousIpUserAgent, t, HOUR),
        secondsSinceIpDevicePrevious,
        secondsSinceIpOfferPrevious: since(previousIpOffer, t, DAY),
        offerDay,
        offerPublisherDay,
        offerSubIdDay,
      };
    const o = s.obs;
    o.t = t;
    o.offerId = offerId;
    o.publisherId = publisherId;
    o.subIdText = subId;
    o.ip = ip;
    o.ua = ua;
    o.ipClicks.minute = ipMinute;
    o.ipClicks.hour = ipHour;
    o.ipClicks.day = ipDay;
    o.deviceClicks = deviceClicks;
    o.secondsSinceDuplicate = secondsSinceDuplicate;
    o.secondsSinceIpPrevious = secondsSinceIpPrevious;
    o.ipOfferHour = ipOfferHour;
    o.ipUserAgentHour = ipUserAgentHour;
    o.ipDistinctOffers = ipDistinctOffers;
    o.ipDistinctPublishers = ipDistinctPublishers;
    o.deviceDistinctIps = deviceDistinctIps;
    o.publisher = publisher;
    o.subId = subIdWindow;
    o.network = network;
    o.ipHistory = ipHistoryNow;
    o.deviceHistory = deviceHistoryNow;
    o.secondsSinceIpUserAgentPrevious = since(previousIpUserAgent, t, HOUR);
    o.secondsSinceIpDevicePrevious = secondsSinceIpDevicePrevious;
    o.secondsSinceIpOfferPrevious = since(previousIpOffer, t, DAY);
    o.offerDay = offerDay;
    o.offerPublisherDay = offerPublisherDay;
    o.offerSubIdDay = offerSubIdDay;
    return o;
  }

  /** Counts one click or conversion (counter `c`) for an offer key and returns its last 24 h. */
  private countOffer(h: number, offerId: string, second: string, subId: string, c: number, t: number, into?: DayRate): DayRate {
    const slot = this.offers.slot(h, offerId, second, t, subId);
    this.offers.add(slot, c, t);
    // Read at once: a later key of the same event may evict this one when the table is full.
    const clicks = this.offers.countSlot(slot, OFFER_CLICKS, 0, t);
    const conversions = this.offers.countSlot(slot, OFFER_CONVERSIONS, 0, t);
    if (!into) return { clicks, conversions };
    into.clicks = clicks;
    into.conversions = conversions;
    return into;
  }

  private ipHistoryOf(slot: number, t: number, into?: IpHistory): IpHistory {
    const h = this.ipHistory;
    const ageSeconds = Math.max(0, t - h.firstSeenOf(slot)) / SECOND;
    const distinctDevices = h.distinct(slot, IP_DEVICES);
    const distinctVisitors = h.distinct(slot, IP_VISITORS);
    const distinctClicks = h.distinct(slot, IP_CLICK_IDS);
    if (!into) return { ageSeconds, distinctDevices, distinctVisitors, distinctClicks };
    into.ageSeconds = ageSeconds;
    into.distinctDevices = distinctDevices;
    into.distinctVisitors = distinctVisitors;
    into.distinctClicks = distinctClicks;
    return into;
  }

  private deviceHistoryOf(slot: number, t: number, into?: DeviceHistory): DeviceHistory {
    const h = this.deviceHistory;
    const ageSeconds = Math.max(0, t - h.firstSeenOf(slot)) / SECOND;
    const distinctIps = h.distinct(slot, DEVICE_IP_SET);
    const distinctUserAgents = h.distinct(slot, DEVICE_USER_AGENTS);
    const distinctClicks = h.distinct(slot, DEVICE_CLICK_IDS);
    if (!into) return { ageSeconds, distinctIps, distinctUserAgents, distinctClicks };
    into.ageSeconds = ageSeconds;
    into.distinctIps = distinctIps;
    into.distinctUserAgents = distinctUserAgents;
    into.distinctClicks = distinctClicks;
    return into;
  }

  private networkSlot(t: number): number {
    return this.publishers.slot(NETWORK_HASH, NETWORK_KEY, '', t);
  }

  /** The whole network's last week as of time `t`, without counting anything. */
  networkWindow(t: number): PublisherWindow {
    return this.windowOf(this.networkSlot(t), t);
  }

  /** Notes a pair at `t`; returns when it was last seen before (−Infinity: never, or forgotten). */
  private notePair(pairs: WindowTable, h: number, a: string, b: string, t: number): number {
    let slot = pairs.find(h, a, b);
    const previous = slot < 0 ? -Infinity : pairs.lastSeenOf(slot);
    if (slot < 0) slot = pairs.create(h, a, b, t);
    pairs.add(slot, 0, t);
    this.pairSlot = slot;
    return previous;
  }

  /** Keeps a judged click for attribution (a copy: the caller may reuse `record`). */
  rememberClick(record: ClickRecord): void {
    if (this.clicks.size === 0) this.nextClickExpiry = record.t + this.options.attributionWindowMs;
    this.clicks.put(record);
  }

  /** Whether a click with this id was observed and is still in memory (no copy made). */
  hasClick(id: string): boolean {
    return this.clicks.has(id);
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
    const t = parseIsoMs(e.ts);
    this.advance(t);
    const click = this.clicks.get(e.clickId) ?? fallback;
    // A pixel's order ids are anybody's (an open pixel is unauthenticated): they are kept apart, so a
    // pixel never takes an order number from the advertiser's own conversions (on any of its offers);
    // a pixel after the advertiser's own conversion of that order is still its duplicate.
    const first =
      e.orderId && advertiserId
        ? (this.orders.get(orderKey(advertiserId, e.orderId)) ??
          (e.sender === 'pixel' ? this.orders.get(orderKey(advertiserId, e.orderId, true)) : undefined))
        : undefined;
    const ctit = click ? t - click.t : null;
    const ip = e.ip ? classifyIp(e.ip).normalized : (click?.ip ?? null);
    const device = e.deviceId ?? click?.deviceId ?? null;
    let publisher: PublisherWindow | null = null;
    let subId: PublisherWindow | null = null;
    let offerDay: DayRate | null = null;
    let offerPublisherDay: DayRate | null = null;
    let offerSubIdDay: DayRate | null = null;
    const networkSlot = this.networkSlot(t);
    if (click) {
      const hOffer = hashPart(click.offerId);
      const hOfferPublisher = keyHash(hOffer, hashPart(click.publisherId));
      offerDay = this.countOffer(keyHash(hOffer, OFFER_TOTAL_HASH), click.offerId, OFFER_TOTAL, '', OFFER_CONVERSIONS, t);
      offerPublisherDay = this.countOffer(hOfferPublisher, click.offerId, click.publisherId, '', OFFER_CONVERSIONS, t);
      if (click.subId) {
        offerSubIdDay = this.countOffer(
          keyHash(hOfferPublisher, hashPart(click.subId)),
          click.offerId,
          click.publisherId,
          click.subId,
          OFFER_CONVERSIONS,
          t,
        );
      }
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
      ipHistory: ip ? this.peekIpHistory(ip, t) : null,
      deviceHistory: device ? this.peekDeviceHistory(device, t) : null,
      offerDay,
      offerPublisherDay,
      offerSubIdDay,
    };
  }

  /** How far the lookups of each of its key tables walk (hash flooding would show here). */
  probeStats(): Record<string, ProbeStats> {
    return {
      ips: this.ips.probeStats(),
      devices: this.devices.probeStats(),
      ipConversions: this.ipConversions.probeStats(),
      deviceConversions: this.deviceConversions.probeStats(),
      publishers: this.publishers.probeStats(),
      ipOffer: this.ipOffer.probeStats(),
      ipUserAgent: this.ipUserAgent.probeStats(),
      ipPublisher: this.ipPublisher.probeStats(),
      deviceIp: this.deviceIp.probeStats(),
      lastClick: this.lastClick.probeStats(),
      ipHistory: this.ipHistory.probeStats(),
      deviceHistory: this.deviceHistory.probeStats(),
      offers: this.offers.probeStats(),
    };
  }

  /** An IP's click history as of `t` without counting anything; null if not seen (or dropped). */
  peekIpHistory(ip: string, t: number): IpHistory | null {
    const slot = this.ipHistory.find(keyHash(hashPart(ip)), ip);
    return slot < 0 ? null : this.ipHistoryOf(slot, t);
  }

  /** A device's click history as of `t` without counting anything; null if not seen (or dropped). */
  peekDeviceHistory(deviceId: string, t: number): DeviceHistory | null {
    const slot = this.deviceHistory.find(keyHash(hashPart(deviceId)), deviceId);
    return slot < 0 ? null : this.deviceHistoryOf(slot, t);
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
      const key = orderKey(advertiserId, e.orderId, e.sender === 'pixel');
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
    historyKeys: { ips: number; devices: number; max: number };
    offerKeys: { keys: number; max: number };
    evictions: number;
  } {
    return {
      clicks: this.clicks.size,
      ipKeys: this.ips.size,
      deviceKeys: this.devices.size,
      pairKeys: this.ipOffer.size + this.ipUserAgent.size + this.ipPublisher.size + this.deviceIp.size,
      duplicateKeys: this.lastClick.size,
      orders: this.orders.size,
      historyKeys: { ips: this.ipHistory.size, devices: this.deviceHistory.size, max: this.options.maxHistoryKeys },
      offerKeys: { keys: this.offers.size, max: this.options.maxOfferKeys },
      evictions:
        this.clicks.evictions +
        this.ips.evictions +
        this.devices.evictions +
        this.ipOffer.evictions +
        this.ipUserAgent.evictions +
        this.ipHistory.evictions +
        this.deviceHistory.evictions +
        this.offers.evictions,
    };
  }

  /** The latest event time seen. */
  get now(): number {
    return this.latest;
  }

  private windowOf(slot: number, t: number, into?: PublisherWindow): PublisherWindow {
    const clicks = this.publishers.countSlot(slot, PUB_CLICKS, 0, t);
    const conversions = this.publishers.countSlot(slot, PUB_CONVERSIONS, 0, t);
    const lateConversions = this.publishers.countSlot(slot, PUB_LATE, 0, t);
    if (!into) return { clicks, conversions, lateConversions };
    into.clicks = clicks;
    into.conversions = conversions;
    into.lateConversions = lateConversions;
    return into;
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

/**
 * The tables behind the causal features (issue 15) as the state builds them, each bounded by its
 * cap: `arbiter bench` fills them to their caps to measure what they cost at most.
 */
export function causalTables(options: Pick<FeatureStateOptions, 'maxHistoryKeys' | 'maxOfferKeys'>): {
  ipHistory: HistoryTable;
  deviceHistory: HistoryTable;
  offers: WindowTable;
} {
  return {
    ipHistory: new HistoryTable(3, options.maxHistoryKeys),
    deviceHistory: new HistoryTable(3, options.maxHistoryKeys),
    offers: new WindowTable([DAY_WINDOW, DAY_WINDOW], options.maxOfferKeys, 1024, 4),
  };
}

/** One click observation and every nested object it can point to, for `observeClick(e, true)`. */
function clickScratch() {
  const window = (): PublisherWindow => ({ clicks: 0, conversions: 0, lateConversions: 0 });
  const day = (): DayRate => ({ clicks: 0, conversions: 0 });
  const ipHistory: IpHistory = { ageSeconds: 0, distinctDevices: 0, distinctVisitors: 0, distinctClicks: 0 };
  const scratch = {
    ipHistory,
    deviceHistory: { ageSeconds: 0, distinctIps: 0, distinctUserAgents: 0, distinctClicks: 0 } as DeviceHistory,
    deviceClicks: { hour: 0, day: 0 },
    publisher: window(),
    subId: window(),
    network: window(),
    offerDay: day(),
    offerPublisherDay: day(),
    offerSubIdDay: day(),
  };
  const obs: ClickObservation = {
    t: 0,
    offerId: '',
    publisherId: '',
    subIdText: null,
    ip: { valid: false, version: null, range: 'malformed', normalized: '', hash: 0, valueHash: 0, valueKey: 0 },
    ua: { bot: null, nonBrowser: null, family: 'unknown', hash: 0, valueHash: 0, valueKey: 0, text: '' },
    ipClicks: { minute: 0, hour: 0, day: 0 },
    deviceClicks: null,
    secondsSinceDuplicate: null,
    secondsSinceIpPrevious: null,
    ipOfferHour: 0,
    ipUserAgentHour: 0,
    ipDistinctOffers: 0,
    ipDistinctPublishers: 0,
    deviceDistinctIps: null,
    publisher: scratch.publisher,
    subId: null,
    network: scratch.network,
    ipHistory,
    deviceHistory: null,
    secondsSinceIpUserAgentPrevious: null,
    secondsSinceIpDevicePrevious: null,
    secondsSinceIpOfferPrevious: null,
    offerDay: scratch.offerDay,
    offerPublisherDay: scratch.offerPublisherDay,
    offerSubIdDay: null,
  };
  return { ...scratch, obs };
}

/** Counts one event for a single-part key of a one-counter, one-window table and returns the count. */
function countOne(table: WindowTable, key: string, t: number): number {
  const slot = table.slot(keyHash(hashPart(key)), key, '', t);
  table.add(slot, 0, t);
  return table.countSlot(slot, 0, 0, t);
}

/** Seconds from `previous` to `t` when within `horizonMs` (an out-of-order `previous` after `t` reads 0), else null. */
function since(previous: number, t: number, horizonMs: number): number | null {
  return t - previous > horizonMs ? null : Math.max(0, t - previous) / SECOND;
}

/** An advertiser's order id; a pixel's (`pixel`) in a namespace of its own. */
function orderKey(advertiserId: string, orderId: string, pixel = false): string {
  return pixel ? `${advertiserId}\u0000pixel\u0000${orderId}` : `${advertiserId}\u0000${orderId}`;
}
