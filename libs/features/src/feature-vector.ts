import type { ClickEvent, ConversionEvent, Offer } from '@app/contracts';
import type { ClickObservation, ConversionObservation, DayRate, PublisherWindow } from './feature-state';

/**
 * The model's inputs: generic traffic-quality features computed from the same streaming state as
 * the rules, causal only (nothing after the event), identical in live scoring, replays, training
 * and evaluation. Names are part of a model's contract: a model records the list it was trained
 * on and the engine refuses one whose list differs.
 *
 * Left out on purpose (issue 14): whether a click has a referrer, a pixel or an order id, the time
 * of day, raw publisher volumes — habits of the simulator's traffic, not signs of fraud (S2S feeds
 * and apps send no referrer, every publisher starts small). A publisher's conversion rate and late
 * share are compared with the whole network's over the same week (a shop network converts less and
 * later than an app network; what stands out is a publisher unlike its peers). Over a publisher or
 * sub-id with too little history they are *unknown*: the `_known` flag is 0 and the comparison
 * reads "like the network", so a new publisher never reads like one that converts nothing.
 *
 * Causal features (issue 15), what published work on real click and purchase fraud finds carries
 * the signal: per IP and per device, how many distinct devices, IPs, visitors and click ids it has
 * shown so far and how long ago it was first seen (capped at a day: what the scorer's 24-hour state
 * rebuild after a restart restores); the time since the same IP and user agent (within the hour),
 * IP and device, IP and offer (within the day) clicked before — the previous click, never the next;
 * the offer × publisher and offer × sub-id conversion rate over the last 24 hours compared with the
 * offer's own, unknown (0, like the offer) under 100 clicks.
 */
export const CLICK_FEATURES = [
  'ip_clicks_1m',
  'ip_clicks_1h',
  'ip_clicks_24h',
  'ip_offer_clicks_1h',
  'ip_ua_clicks_1h',
  'ip_distinct_offers_24h',
  'ip_distinct_publishers_24h',
  'seconds_since_ip_previous',
  'seconds_since_duplicate',
  'has_device',
  'device_clicks_1h',
  'device_clicks_24h',
  'device_distinct_ips_24h',
  'ip_age_log_seconds',
  'ip_distinct_devices_so_far',
  'ip_distinct_visitors_so_far',
  'ip_distinct_clicks_so_far',
  'device_age_log_seconds',
  'device_distinct_ips_so_far',
  'device_distinct_user_agents_so_far',
  'device_distinct_clicks_so_far',
  'seconds_since_ip_ua_previous',
  'seconds_since_ip_device_previous',
  'seconds_since_ip_offer_previous',
  'offer_publisher_known',
  'offer_publisher_cr_vs_offer_24h',
  'offer_sub_id_known',
  'offer_sub_id_cr_vs_offer_24h',
  'publisher_known',
  'publisher_cr_vs_network_7d',
  'publisher_late_vs_network_7d',
  'sub_id_known',
  'sub_id_cr_vs_network_7d',
  'ua_bot',
  'ua_non_browser',
  'ua_mobile',
  'ua_desktop',
  'ua_app',
  'ip_invalid',
  'ip_datacenter',
  'geo_outside_offer',
  'geo_declared_mismatch',
  'rules_risk',
] as const;

export const CONVERSION_FEATURES = [
  'click_known',
  'ctit_log_seconds',
  'click_valid',
  'click_risk',
  'click_declared_mismatch',
  'click_previous_conversions',
  'ip_conversions_24h',
  'device_conversions_24h',
  'ip_age_log_seconds',
  'ip_distinct_devices_so_far',
  'ip_distinct_clicks_so_far',
  'device_distinct_ips_so_far',
  'device_distinct_clicks_so_far',
  'offer_publisher_known',
  'offer_publisher_cr_vs_offer_24h',
  'offer_sub_id_known',
  'offer_sub_id_cr_vs_offer_24h',
  'country_differs_from_click',
  'country_matches_click_declared',
  'device_id_differs',
  'browser_differs',
  'duplicate_order',
  'payout_share',
  'type_sale',
  'type_lead',
  'type_install',
  'publisher_known',
  'publisher_cr_vs_network_7d',
  'publisher_late_vs_network_7d',
  'sub_id_known',
  'sub_id_cr_vs_network_7d',
  'rules_risk',
] as const;

/**
 * Clicks a publisher (or sub-id) needs in the last week before its conversion rate and late share
 * count as known: PUBLISHER_CR_ANOMALY's default minimum sample. The network needs ten times that.
 */
export const MIN_KNOWN_CLICKS = 100;
const MIN_NETWORK_CLICKS = 10 * MIN_KNOWN_CLICKS;
/** Clicks an offer needs in the last 24 h before an offer × source rate is compared with it: more than one source's minimum. */
const MIN_OFFER_DAY_CLICKS = 2 * MIN_KNOWN_CLICKS;
/** First-seen ages are capped at a day: a restarted scorer rebuilds its state from the last 24 h. */
const MAX_AGE_SECONDS = 86_400;

export type ClickFeature = (typeof CLICK_FEATURES)[number];
export type ConversionFeature = (typeof CONVERSION_FEATURES)[number];

const log = (x: number) => Math.log1p(Math.max(0, x));
const flag = (b: boolean) => (b ? 1 : 0);
// "Never / not within a day" is encoded as a day: later than anything observed.
const sinceLog = (seconds: number | null) => log(seconds ?? 86_400);

const known = (w: PublisherWindow | null): w is PublisherWindow => !!w && w.clicks >= MIN_KNOWN_CLICKS;

// Smoothed by half a conversion, so that "no conversions yet" is a finite ratio.
const rateOf = (w: { clicks: number; conversions: number }) => (Math.min(w.conversions, w.clicks) + 0.5) / (w.clicks + 1);
const lateOf = (w: PublisherWindow) => (w.conversions > 0 ? w.lateConversions / w.conversions : 0);

/** log(publisher rate / network rate), clipped to ±5; 0 (like the network) when either is unknown. */
function crVsNetwork(w: PublisherWindow | null, network: PublisherWindow): number {
  if (!known(w) || network.clicks < MIN_NETWORK_CLICKS) return 0;
  return Math.max(-5, Math.min(5, Math.log(rateOf(w) / rateOf(network))));
}

/** Publisher's late share minus the network's; 0 when unknown or without conversions. */
function lateVsNetwork(w: PublisherWindow | null, network: PublisherWindow): number {
  if (!known(w) || w.conversions === 0 || network.clicks < MIN_NETWORK_CLICKS) return 0;
  return lateOf(w) - lateOf(network);
}

const knownDay = (d: DayRate | null): d is DayRate => !!d && d.clicks >= MIN_KNOWN_CLICKS;

/** log(offer × source rate / the offer's rate) over the last 24 h, clipped to ±5; 0 (like the offer) when either is unknown. */
function crVsOffer(d: DayRate | null, offer: DayRate | null): number {
  if (!knownDay(d) || !offer || offer.clicks < MIN_OFFER_DAY_CLICKS) return 0;
  return Math.max(-5, Math.min(5, Math.log(rateOf(d) / rateOf(offer))));
}

const ageLog = (seconds: number | undefined) => log(Math.min(MAX_AGE_SECONDS, seconds ?? 0));

export interface ClickFeatureInput {
  event: ClickEvent;
  obs: ClickObservation;
  offer: Offer | null;
  datacenter: boolean;
  rulesRisk: number;
}

/** Fills `out` (length CLICK_FEATURES.length) with the click's features; allocation-free. */
export function clickFeatures(f: ClickFeatureInput, out: Float64Array): Float64Array {
  const { event: e, obs: o } = f;
  const allowed = f.offer?.allowedCountries ?? [];
  const country = e.ipCountry ?? e.country ?? null;
  let i = 0;
  out[i++] = log(o.ipClicks.minute);
  out[i++] = log(o.ipClicks.hour);
  out[i++] = log(o.ipClicks.day);
  out[i++] = log(o.ipOfferHour);
  out[i++] = log(o.ipUserAgentHour);
  out[i++] = log(o.ipDistinctOffers);
  out[i++] = log(o.ipDistinctPublishers);
  out[i++] = sinceLog(o.secondsSinceIpPrevious);
  out[i++] = sinceLog(o.secondsSinceDuplicate);
  out[i++] = flag(!!o.deviceClicks);
  out[i++] = log(o.deviceClicks?.hour ?? 0);
  out[i++] = log(o.deviceClicks?.day ?? 0);
  out[i++] = log(o.deviceDistinctIps ?? 0);
  out[i++] = ageLog(o.ipHistory.ageSeconds);
  out[i++] = log(o.ipHistory.distinctDevices);
  out[i++] = log(o.ipHistory.distinctVisitors);
  out[i++] = log(o.ipHistory.distinctClicks);
  out[i++] = ageLog(o.deviceHistory?.ageSeconds);
  out[i++] = log(o.deviceHistory?.distinctIps ?? 0);
  out[i++] = log(o.deviceHistory?.distinctUserAgents ?? 0);
  out[i++] = log(o.deviceHistory?.distinctClicks ?? 0);
  out[i++] = sinceLog(o.secondsSinceIpUserAgentPrevious);
  out[i++] = sinceLog(o.secondsSinceIpDevicePrevious);
  out[i++] = sinceLog(o.secondsSinceIpOfferPrevious);
  out[i++] = flag(knownDay(o.offerPublisherDay) && o.offerDay.clicks >= MIN_OFFER_DAY_CLICKS);
  out[i++] = crVsOffer(o.offerPublisherDay, o.offerDay);
  out[i++] = flag(knownDay(o.offerSubIdDay) && o.offerDay.clicks >= MIN_OFFER_DAY_CLICKS);
  out[i++] = crVsOffer(o.offerSubIdDay, o.offerDay);
  out[i++] = flag(known(o.publisher));
  out[i++] = crVsNetwork(o.publisher, o.network);
  out[i++] = lateVsNetwork(o.publisher, o.network);
  out[i++] = flag(known(o.subId));
  out[i++] = crVsNetwork(o.subId, o.network);
  out[i++] = flag(!!o.ua.bot);
  out[i++] = flag(!!o.ua.nonBrowser);
  out[i++] = flag(o.ua.family === 'mobile' || o.ua.family === 'tablet');
  out[i++] = flag(o.ua.family === 'desktop');
  out[i++] = flag(o.ua.family === 'app');
  out[i++] = flag(!o.ip.valid);
  out[i++] = flag(f.datacenter);
  out[i++] = flag(allowed.length > 0 && !!country && !allowed.includes(country));
  out[i++] = flag(!!e.country && !!e.ipCountry && e.country !== e.ipCountry);
  out[i++] = f.rulesRisk;
  return out;
}

export interface ConversionFeatureInput {
  event: ConversionEvent;
  obs: ConversionObservation;
  payout: number;
  browserDiffers: boolean;
  rulesRisk: number;
}

/** Fills `out` (length CONVERSION_FEATURES.length) with the conversion's features; allocation-free. */
export function conversionFeatures(f: ConversionFeatureInput, out: Float64Array): Float64Array {
  const { event: e, obs: o } = f;
  const click = o.click;
  const country = e.ipCountry ?? e.country ?? null;
  const type = e.type ?? 'sale';
  let i = 0;
  out[i++] = flag(!!click);
  out[i++] = o.ctitSeconds === null ? -1 : Math.log1p(Math.max(0, o.ctitSeconds));
  out[i++] = flag(!!click?.valid);
  out[i++] = click?.risk ?? 1;
  out[i++] = flag(!!click?.declaredCountry && !!click.country && click.declaredCountry !== click.country);
  out[i++] = log(click?.conversions ?? 0);
  out[i++] = log(o.ipConversions ?? 0);
  out[i++] = log(o.deviceConversions ?? 0);
  out[i++] = ageLog(o.ipHistory?.ageSeconds);
  out[i++] = log(o.ipHistory?.distinctDevices ?? 0);
  out[i++] = log(o.ipHistory?.distinctClicks ?? 0);
  out[i++] = log(o.deviceHistory?.distinctIps ?? 0);
  out[i++] = log(o.deviceHistory?.distinctClicks ?? 0);
  out[i++] = flag(knownDay(o.offerPublisherDay) && !!o.offerDay && o.offerDay.clicks >= MIN_OFFER_DAY_CLICKS);
  out[i++] = crVsOffer(o.offerPublisherDay, o.offerDay);
  out[i++] = flag(knownDay(o.offerSubIdDay) && !!o.offerDay && o.offerDay.clicks >= MIN_OFFER_DAY_CLICKS);
  out[i++] = crVsOffer(o.offerSubIdDay, o.offerDay);
  out[i++] = flag(!!country && !!click?.country && country !== click.country);
  out[i++] = flag(!!country && !!click?.declaredCountry && country === click.declaredCountry && click.declaredCountry !== click.country);
  out[i++] = flag(!!e.deviceId && !!click?.deviceId && e.deviceId !== click.deviceId);
  out[i++] = flag(f.browserDiffers);
  out[i++] = flag(!!o.duplicateOrderOf);
  out[i++] = e.amount > 0 ? Math.min(1, f.payout / e.amount) : 0;
  out[i++] = flag(type === 'sale');
  out[i++] = flag(type === 'lead');
  out[i++] = flag(type === 'install');
  out[i++] = flag(known(o.publisher));
  out[i++] = crVsNetwork(o.publisher, o.network);
  out[i++] = lateVsNetwork(o.publisher, o.network);
  out[i++] = flag(known(o.subId));
  out[i++] = crVsNetwork(o.subId, o.network);
  out[i++] = f.rulesRisk;
  return out;
}
