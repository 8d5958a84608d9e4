import type { ClickEvent, ConversionEvent, Offer } from '@app/contracts';
import type { ClickObservation, ConversionObservation, PublisherWindow } from './feature-state';

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

export type ClickFeature = (typeof CLICK_FEATURES)[number];
export type ConversionFeature = (typeof CONVERSION_FEATURES)[number];

const log = (x: number) => Math.log1p(Math.max(0, x));
const flag = (b: boolean) => (b ? 1 : 0);
// "Never / not within a day" is encoded as a day: later than anything observed.
const sinceLog = (seconds: number | null) => log(seconds ?? 86_400);

const known = (w: PublisherWindow | null): w is PublisherWindow => !!w && w.clicks >= MIN_KNOWN_CLICKS;

// Smoothed by half a conversion, so that "no conversions yet" is a finite ratio.
const rateOf = (w: PublisherWindow) => (Math.min(w.conversions, w.clicks) + 0.5) / (w.clicks + 1);
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
