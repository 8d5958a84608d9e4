import type { ClickEvent, ConversionEvent, Offer } from '@app/contracts';
import type { ClickObservation, ConversionObservation, PublisherWindow } from './feature-state';

/**
 * The model's inputs: generic traffic-quality features computed from the same streaming state as
 * the rules, causal only (nothing after the event), identical in live scoring, replays, training
 * and evaluation. Names are part of a model's contract: a model records the list it was trained
 * on and the engine refuses one whose list differs.
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
  'publisher_clicks_7d',
  'publisher_conversion_rate_7d',
  'publisher_late_share_7d',
  'sub_id_clicks_7d',
  'sub_id_conversion_rate_7d',
  'ua_bot',
  'ua_non_browser',
  'ua_mobile',
  'ua_desktop',
  'ua_app',
  'ip_invalid',
  'ip_datacenter',
  'ip_v6',
  'geo_outside_offer',
  'geo_declared_mismatch',
  'has_declared_country',
  'has_referrer',
  'hour_sin',
  'hour_cos',
  'rules_risk',
] as const;

export const CONVERSION_FEATURES = [
  'click_known',
  'ctit_log_seconds',
  'click_valid',
  'click_risk',
  'click_has_referrer',
  'click_declared_mismatch',
  'click_previous_conversions',
  'ip_conversions_24h',
  'device_conversions_24h',
  'country_differs_from_click',
  'country_matches_click_declared',
  'device_id_differs',
  'browser_differs',
  'has_pixel_data',
  'has_order_id',
  'duplicate_order',
  'amount_log',
  'payout_share',
  'type_sale',
  'type_lead',
  'type_install',
  'publisher_conversions_7d',
  'publisher_conversion_rate_7d',
  'publisher_late_share_7d',
  'sub_id_clicks_7d',
  'sub_id_conversion_rate_7d',
  'hour_sin',
  'hour_cos',
  'rules_risk',
] as const;

export type ClickFeature = (typeof CLICK_FEATURES)[number];
export type ConversionFeature = (typeof CONVERSION_FEATURES)[number];

const log = (x: number) => Math.log1p(Math.max(0, x));
const flag = (b: boolean) => (b ? 1 : 0);
// "Never / not within a day" is encoded as a day: later than anything observed.
const sinceLog = (seconds: number | null) => log(seconds ?? 86_400);

function rate(w: PublisherWindow | null): number {
  return w && w.clicks > 0 ? Math.min(1, w.conversions / w.clicks) : 0;
}

function lateShare(w: PublisherWindow | null): number {
  return w && w.conversions > 0 ? w.lateConversions / w.conversions : 0;
}

const MINUTE_MS = 60_000;

/** The UTC time of day (hours and whole minutes) as an angle; the same arithmetic as Date's getters, without a Date. */
export function hourAngle(t: number): number {
  const minuteOfDay = Math.floor(t / MINUTE_MS) % 1440;
  const m = minuteOfDay < 0 ? minuteOfDay + 1440 : minuteOfDay;
  return ((Math.floor(m / 60) + (m % 60) / 60) / 24) * 2 * Math.PI;
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
  const angle = hourAngle(o.t);
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
  out[i++] = log(o.publisher.clicks);
  out[i++] = rate(o.publisher);
  out[i++] = lateShare(o.publisher);
  out[i++] = log(o.subId?.clicks ?? 0);
  out[i++] = rate(o.subId);
  out[i++] = flag(!!o.ua.bot);
  out[i++] = flag(!!o.ua.nonBrowser);
  out[i++] = flag(o.ua.family === 'mobile' || o.ua.family === 'tablet');
  out[i++] = flag(o.ua.family === 'desktop');
  out[i++] = flag(o.ua.family === 'app');
  out[i++] = flag(!o.ip.valid);
  out[i++] = flag(f.datacenter);
  out[i++] = flag(o.ip.version === 6);
  out[i++] = flag(allowed.length > 0 && !!country && !allowed.includes(country));
  out[i++] = flag(!!e.country && !!e.ipCountry && e.country !== e.ipCountry);
  out[i++] = flag(!!e.country);
  out[i++] = flag(!!e.referrer);
  out[i++] = Math.sin(angle);
  out[i++] = Math.cos(angle);
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
  const angle = hourAngle(o.t);
  let i = 0;
  out[i++] = flag(!!click);
  out[i++] = o.ctitSeconds === null ? -1 : Math.log1p(Math.max(0, o.ctitSeconds));
  out[i++] = flag(!!click?.valid);
  out[i++] = click?.risk ?? 1;
  out[i++] = flag(!!click?.referrer);
  out[i++] = flag(!!click?.declaredCountry && !!click.country && click.declaredCountry !== click.country);
  out[i++] = log(click?.conversions ?? 0);
  out[i++] = log(o.ipConversions ?? 0);
  out[i++] = log(o.deviceConversions ?? 0);
  out[i++] = flag(!!country && !!click?.country && country !== click.country);
  out[i++] = flag(!!country && !!click?.declaredCountry && country === click.declaredCountry && click.declaredCountry !== click.country);
  out[i++] = flag(!!e.deviceId && !!click?.deviceId && e.deviceId !== click.deviceId);
  out[i++] = flag(f.browserDiffers);
  out[i++] = flag(!!(e.ip || e.userAgent || e.deviceId));
  out[i++] = flag(!!e.orderId);
  out[i++] = flag(!!o.duplicateOrderOf);
  out[i++] = log(e.amount);
  out[i++] = e.amount > 0 ? Math.min(1, f.payout / e.amount) : 0;
  out[i++] = flag(type === 'sale');
  out[i++] = flag(type === 'lead');
  out[i++] = flag(type === 'install');
  out[i++] = log(o.publisher?.conversions ?? 0);
  out[i++] = rate(o.publisher);
  out[i++] = lateShare(o.publisher);
  out[i++] = log(o.subId?.clicks ?? 0);
  out[i++] = rate(o.subId);
  out[i++] = Math.sin(angle);
  out[i++] = Math.cos(angle);
  out[i++] = f.rulesRisk;
  return out;
}
