/**
 * The stable reason codes of DESIGN §4. Codes are a public contract: publishers and advertisers
 * store them, so a code is never renamed or reused. Detection lives in `@app/rules`.
 */

export type Category = 'GIVT' | 'SIVT';
export type Severity = 'low' | 'medium' | 'high' | 'critical';
export type FalsePositiveRisk = 'low' | 'medium' | 'high';
export type EventSide = 'click' | 'conversion';
/** One plain value of evidence. */
export type EvidenceScalar = string | number | boolean | null;
/** One row of a table in the evidence (e.g. one feature's contribution to MODEL_RISK). */
export type EvidenceRow = Record<string, EvidenceScalar>;
/** The numbers that made a rule fire: plain values, or a small table of rows. */
export type Evidence = Record<string, EvidenceScalar | EvidenceRow[]>;

export interface ReasonCodeSpec {
  code: string;
  on: readonly EventSide[];
  /** GIVT: caught by lists and standard checks. SIVT: needs analytics (MRC definitions). */
  category: Category;
  /** `critical` rejects on its own; the others add to the risk score. */
  severity: Severity;
  /** How often a legitimate event trips it, as an operator should expect. */
  falsePositiveRisk: FalsePositiveRisk;
  title: string;
  /** What the code catches, for operators. */
  description: string;
  /** Evidence as the rule reports it (documentation and tests). */
  example: Evidence;
  /** The plain explanation, filled from the evidence (advertisers and the network see this one). */
  explain(e: Evidence): string;
  /**
   * Evidence keys a publisher never sees (model numbers, analysts' notes), and the message built
   * without them; codes without it show publishers their masked evidence and the same message.
   */
  forPublishers?: { hide: readonly string[]; explain(e: Evidence): string };
}

const pct = (v: unknown) => (typeof v === 'number' ? `${(v * 100).toFixed(v < 0.01 ? 2 : 1)} %` : String(v));
const n = (v: unknown) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(1)) : String(v));

const specs = [
  {
    code: 'BOT_USER_AGENT',
    on: ['click'],
    category: 'GIVT',
    severity: 'critical',
    falsePositiveRisk: 'low',
    title: 'Declared bot or crawler',
    description:
      'The user agent declares a crawler, spider or bot (isbot pattern list); the evidence names it and its operator (Matomo bot list).',
    example: { bot: 'Googlebot', operator: 'Google Inc.', kind: 'Search bot', match: 'Google' },
    explain: (e) => `The visitor's browser identifies itself as an automated agent: ${e.bot}${e.operator ? ` (${e.operator})` : ''}.`,
  },
  {
    code: 'NON_BROWSER_CLIENT',
    on: ['click'],
    category: 'GIVT',
    severity: 'high',
    falsePositiveRisk: 'low',
    title: 'Not a browser',
    description: 'Empty user agent, HTTP libraries, command-line tools, headless or automated browsers.',
    example: { client: 'a Python script' },
    explain: (e) =>
      e.client === 'empty' ? 'The request carried no user agent.' : `The request came from ${e.client}, not a person's browser.`,
  },
  {
    code: 'INVALID_IP',
    on: ['click'],
    category: 'GIVT',
    severity: 'critical',
    falsePositiveRisk: 'low',
    title: 'Invalid IP address',
    description: 'Malformed, private, loopback, link-local, reserved or otherwise non-routable address.',
    example: { range: 'private' },
    explain: (e) =>
      `The visitor's IP address is ${e.range === 'malformed' ? 'not a valid address' : `a ${e.range} address that cannot reach the internet`}.`,
  },
  {
    code: 'UNKNOWN_OFFER',
    on: ['click', 'conversion'],
    category: 'GIVT',
    severity: 'critical',
    falsePositiveRisk: 'low',
    title: 'Unknown offer',
    description: 'The offer id is not in the catalog.',
    example: { offerId: 'summer-sale' },
    explain: (e) => `Offer "${e.offerId}" does not exist in the network.`,
  },
  {
    code: 'UNKNOWN_PUBLISHER',
    on: ['click', 'conversion'],
    category: 'GIVT',
    severity: 'critical',
    falsePositiveRisk: 'low',
    title: 'Unknown publisher',
    description: 'The publisher id is not in the catalog, or is suspended.',
    example: { publisherId: 'pub-77', status: 'missing' },
    explain: (e) => `Publisher "${e.publisherId}" is ${e.status === 'missing' ? 'not registered' : e.status} in the network.`,
  },
  {
    code: 'INACTIVE_OFFER',
    on: ['click', 'conversion'],
    category: 'GIVT',
    severity: 'high',
    falsePositiveRisk: 'low',
    title: 'Offer not running',
    description: 'The offer exists but is paused.',
    example: { offerId: 'summer-sale', status: 'paused' },
    explain: (e) => `Offer "${e.offerId}" was ${e.status} when this traffic arrived.`,
  },
  {
    code: 'DUPLICATE_CLICK',
    on: ['click'],
    category: 'GIVT',
    severity: 'high',
    falsePositiveRisk: 'medium',
    title: 'Duplicate click',
    description: 'Same IP, user agent, offer and publisher within the duplicate window.',
    example: { secondsSincePrevious: 4.2, windowSeconds: 30 },
    explain: (e) =>
      `The same visitor clicked this offer ${n(e.secondsSincePrevious)} s before (one click per ${n(e.windowSeconds)} s counts).`,
  },
  {
    code: 'IP_VELOCITY',
    on: ['click'],
    category: 'SIVT',
    severity: 'high',
    falsePositiveRisk: 'medium',
    title: 'Too many clicks from one IP',
    description: 'Clicks per IP over sliding windows above the limit.',
    example: { window: 'minute', count: 37, limit: 20 },
    explain: (e) => `${n(e.count)} clicks came from this IP address in the last ${e.window} (limit ${n(e.limit)}).`,
  },
  {
    code: 'GEO_MISMATCH',
    on: ['click', 'conversion'],
    category: 'SIVT',
    severity: 'medium',
    falsePositiveRisk: 'medium',
    title: 'Country mismatch',
    description:
      "IP country outside the offer's allowed countries; declared country differs from the IP's (proxy, VPN); conversion country differs from the click's.",
    example: { country: 'BR', allowed: 'US, CA' },
    explain: (e) =>
      e.allowed
        ? `The visitor was in ${e.country}, but the offer accepts traffic only from ${e.allowed}.`
        : e.declaredCountry
          ? `The visitor's device says ${e.declaredCountry} but the IP address is in ${e.ipCountry} (a proxy or VPN).`
          : `The conversion came from ${e.conversionCountry} but the click from ${e.clickCountry}.`,
  },
  {
    code: 'UNKNOWN_CLICK',
    on: ['conversion'],
    category: 'SIVT',
    severity: 'high',
    falsePositiveRisk: 'low',
    title: 'Conversion without a click',
    description: 'The click id was never seen by the engine.',
    example: { clickId: 'c0.0193e0f2-…' },
    explain: (e) => `No click with id "${e.clickId}" was ever recorded, so the conversion cannot be attributed.`,
  },
  {
    code: 'CTIT_TOO_SHORT',
    on: ['conversion'],
    category: 'SIVT',
    severity: 'high',
    falsePositiveRisk: 'medium',
    title: 'Conversion too fast after the click',
    description: 'Click-to-conversion time below the minimum for the conversion type: click injection.',
    example: { type: 'install', ctitSeconds: 3.4, minSeconds: 10 },
    explain: (e) => `The ${e.type} happened ${n(e.ctitSeconds)} s after the click; a real ${e.type} takes at least ${n(e.minSeconds)} s.`,
  },
  {
    code: 'CTIT_TOO_LONG',
    on: ['conversion'],
    category: 'SIVT',
    severity: 'high',
    falsePositiveRisk: 'low',
    title: 'Conversion outside the attribution window',
    description: 'Click-to-conversion time beyond the attribution window.',
    example: { ctitDays: 41.5, windowDays: 30 },
    explain: (e) => `The conversion came ${n(e.ctitDays)} days after the click, outside the ${n(e.windowDays)}-day attribution window.`,
  },
  {
    code: 'DUPLICATE_CONVERSION',
    on: ['conversion'],
    category: 'GIVT',
    severity: 'critical',
    falsePositiveRisk: 'low',
    title: 'Duplicate conversion',
    description: 'Order id already converted for the advertiser, or the click converted more often than allowed.',
    example: { orderId: 'A-1001', firstConversionId: '0193e0f2-…' },
    explain: (e) =>
      e.orderId !== undefined && e.orderId !== null
        ? `Order "${e.orderId}" was already credited (conversion ${e.firstConversionId}).`
        : `The click already converted ${n(e.previousConversions)} time(s); the offer allows ${n(e.allowed)}.`,
  },
  {
    code: 'INVALID_SOURCE_CLICK',
    on: ['conversion'],
    category: 'SIVT',
    severity: 'high',
    falsePositiveRisk: 'low',
    title: 'Attributed click was invalid',
    description: 'The click this conversion is attributed to was itself invalid; its reasons are inherited.',
    example: { clickId: 'c0.0193e0f2-…', clickReasons: 'DATACENTER_IP' },
    explain: (e) => `The click behind this conversion was invalid (${e.clickReasons}).`,
  },
  {
    code: 'DATACENTER_IP',
    on: ['click'],
    category: 'GIVT',
    severity: 'high',
    falsePositiveRisk: 'low',
    title: 'Data-center IP',
    description:
      "The IP belongs to a hosting, cloud or proxy range: a built-in starter list of the large clouds (IPv4 and IPv6) and the providers' published lists an operator loads; the evidence names the provider.",
    example: { provider: 'DigitalOcean', range: '104.131.0.0/16' },
    explain: (e) => `The visitor's IP address belongs to a data center (${e.provider}, ${e.range}), where people do not browse from.`,
  },
  {
    code: 'DENY_LISTED',
    on: ['click', 'conversion'],
    category: 'GIVT',
    severity: 'critical',
    falsePositiveRisk: 'low',
    title: 'On a deny list',
    description: 'IP (or CIDR), device, publisher or sub-id on a deny list of the rule set.',
    example: { list: 'sub-id', value: 'pub-9:promo' },
    explain: (e) => `The ${e.list} "${e.value}" is on the network's deny list.`,
  },
  {
    code: 'DEVICE_VELOCITY',
    on: ['click'],
    category: 'SIVT',
    severity: 'high',
    falsePositiveRisk: 'medium',
    title: 'Too many clicks from one device',
    description: 'Clicks per device id over sliding windows above the limit.',
    example: { window: '24 hours', count: 44, limit: 30 },
    explain: (e) => `${n(e.count)} clicks came from this device in the last ${e.window} (limit ${n(e.limit)}).`,
  },
  {
    code: 'CONVERSION_VELOCITY',
    on: ['conversion'],
    category: 'SIVT',
    severity: 'high',
    falsePositiveRisk: 'medium',
    title: 'Too many conversions from one IP or device',
    description: 'Conversions per IP or per device over a day above the limit.',
    example: { key: 'device', count: 5, limit: 3 },
    explain: (e) => `${n(e.count)} conversions came from this ${e.key} in the last 24 hours (limit ${n(e.limit)}).`,
  },
  {
    code: 'DEVICE_MISMATCH',
    on: ['conversion'],
    category: 'SIVT',
    severity: 'medium',
    falsePositiveRisk: 'medium',
    title: 'Converted on another device',
    description: "The conversion's user agent or device id differs from its click's.",
    example: { field: 'device id' },
    explain: (e) => `The conversion came from a different ${e.field} than the click it is attributed to.`,
  },
  {
    code: 'PUBLISHER_CR_ANOMALY',
    on: ['conversion'],
    category: 'SIVT',
    severity: 'medium',
    falsePositiveRisk: 'medium',
    title: 'Conversion rate out of band',
    description: 'The publisher or sub-id converts far below or above the normal band, over enough clicks to tell.',
    example: {
      scope: 'sub-id "rw1" of publisher "pub-31"',
      window: '7 days',
      clicks: 412,
      conversions: 131,
      conversionRate: 0.318,
      low: 0.005,
      high: 0.2,
    },
    explain: (e) =>
      `Traffic from ${e.scope} converted ${pct(e.conversionRate)} of ${n(e.clicks)} clicks in the last ${e.window}; normal is ${pct(e.low)}–${pct(e.high)}.`,
  },
  {
    code: 'CLICK_SPAM_PATTERN',
    on: ['conversion'],
    category: 'SIVT',
    severity: 'high',
    falsePositiveRisk: 'medium',
    title: 'Click-spamming pattern',
    description:
      "The publisher's click-to-conversion times are long-tailed: many conversions a day or more after the click, as when clicks are fired blindly hoping to claim organic conversions.",
    example: { lateShare: 0.62, conversions: 80, lateHours: 24, maxLateShare: 0.3 },
    explain: (e) =>
      `${pct(e.lateShare)} of this publisher's last ${n(e.conversions)} conversions came more than ${n(e.lateHours)} hours after the click (expected at most ${pct(e.maxLateShare)}).`,
  },
  {
    code: 'MODEL_RISK',
    on: ['click', 'conversion'],
    category: 'SIVT',
    severity: 'high',
    falsePositiveRisk: 'medium',
    title: 'High model risk',
    description:
      "The fraud model, trained on labelled history, scores the event above its threshold. The evidence names the model, its authority and this event's own explanation: `contributions` lists the features that moved this event's probability most (path contributions through the forest's trees: `bias`, the forest's prior, plus every feature's `contribution` is the probability), each with the event's `value` and the `typicalLegit` value (the median among legitimate training traffic), on the model's scale (counts as log(1 + n), times as log(1 + seconds)); `drivers` says the ones that raised it in words. A model trained before per-event explanations says so (`explanation: none`) and names its overall most important features instead: retrain it. Authority: `advisory` (the simulator-trained default, or a model short of the operator's held-out precision and false-positive floors) only holds a conversion or flags a click for review, never rejects or invalidates on its own; `deciding` counts like any rule.",
    example: {
      probability: 0.93,
      threshold: 0.8,
      model: 'sim-2026-11',
      authority: 'advisory',
      basis: "trained on simulated traffic, not this network's labels",
      explanation: 'per-event',
      bias: 0.33,
      contributions: [
        { feature: 'ctit_log_seconds', value: 1.386, typicalLegit: 7.912, contribution: 0.31 },
        { feature: 'ip_conversions_24h', value: 2.303, typicalLegit: 0, contribution: 0.22 },
        { feature: 'click_risk', value: 0.4, typicalLegit: 0, contribution: 0.09 },
        { feature: 'payout_share', value: 0.1, typicalLegit: 0.1, contribution: -0.02 },
      ],
      drivers:
        'ctit_log_seconds 1.386 (legitimate typically 7.912) +0.31; ip_conversions_24h 2.303 (legitimate typically 0) +0.22; click_risk 0.4 (legitimate typically 0) +0.09',
    },
    explain: (e) =>
      `The fraud model (${e.model}) rates this ${pct(e.probability)} likely fraudulent, above its ${pct(e.threshold)} threshold; ` +
      (e.explanation === 'per-event'
        ? `what raised this event's score most: ${e.drivers}. `
        : `this model version cannot explain single events (retrain it to get per-event explanations); overall it weighs most: ${e.drivers}. `) +
      (e.authority === 'deciding'
        ? `It decides (${e.basis}).`
        : `It is advisory (${e.basis}): on its own it holds for review, it does not reject.`),
    // Scores, thresholds, features, contributions and authority would teach a fraudster where the line is.
    forPublishers: {
      hide: ['probability', 'threshold', 'model', 'drivers', 'authority', 'basis', 'explanation', 'bias', 'contributions'],
      explain: () => "The network's fraud model rates this traffic as likely fraudulent.",
    },
  },
  {
    code: 'ADVERTISER_REJECTED',
    on: ['conversion'],
    category: 'SIVT',
    severity: 'critical',
    falsePositiveRisk: 'low',
    title: 'Rejected by the advertiser',
    description: 'The advertiser reported the conversion as invalid (feedback).',
    example: { reason: 'failed verification' },
    explain: (e) => `The advertiser rejected this conversion${e.reason ? `: ${e.reason}` : ''}.`,
  },
  {
    code: 'ANALYST_OVERRIDE',
    on: ['conversion'],
    category: 'SIVT',
    severity: 'low',
    falsePositiveRisk: 'low',
    title: 'Decided by an analyst',
    description: "A risk analyst set the final status; it overrides the engine's.",
    example: { status: 'rejected', note: 'confirmed reseller traffic' },
    explain: (e) => `A risk analyst ${e.status} this conversion${e.note ? `: ${e.note}` : ''}.`,
    forPublishers: { hide: ['note'], explain: (e) => `A risk analyst ${e.status} this conversion.` },
  },
  {
    code: 'UNVERIFIED_SOURCE',
    on: ['conversion'],
    category: 'GIVT',
    severity: 'low',
    falsePositiveRisk: 'high',
    title: 'Unverified conversion source',
    description:
      'The conversion came through an open pixel (an offer set to accept conversions without an advertiser key or postback token): anyone who knows a click id could have sent it. When the publisher is paid a percentage of the sale (`amountSetsPayout`), the amount the pixel stated would set the payout: the conversion is held, and its hold expires into a rejection unless its advertiser or an analyst approves it first.',
    example: { sender: 'pixel', offerId: 'summer-sale' },
    explain: (e) =>
      `The conversion was reported by an unauthenticated pixel for offer "${e.offerId}", not by the advertiser's server.` +
      (e.amountSetsPayout === true
        ? ' Its payout is a share of the sale amount the pixel stated: it is approved only when the advertiser or an analyst confirms it.'
        : ''),
  },
  {
    code: 'OFFER_MISMATCH',
    on: ['conversion'],
    category: 'GIVT',
    severity: 'critical',
    falsePositiveRisk: 'low',
    title: 'Conversion for a different offer',
    description:
      "The conversion names an offer other than its click's, or was sent by an advertiser (key, postback token or open pixel) to whom the click's offer does not belong.",
    example: { clickOfferId: 'summer-sale', offerId: 'winter-sale', senderId: 'shop-b' },
    explain: (e) =>
      e.offerId !== undefined && e.offerId !== e.clickOfferId
        ? `The conversion names offer "${e.offerId}" but its click was on offer "${e.clickOfferId}".`
        : `The conversion was reported by advertiser "${e.senderId}", who does not own offer "${e.clickOfferId}" of its click.`,
  },
  {
    code: 'ENFORCEMENT_BLOCK',
    on: ['click', 'conversion'],
    category: 'SIVT',
    severity: 'critical',
    falsePositiveRisk: 'medium',
    title: 'Blocked by an enforcement policy',
    description:
      "The publisher or sub-id is blocked (on the offer or network-wide) until the block's end: an enforcement policy of the rule set found its invalid-click or rejection rate above the policy's limit over enough traffic. The evidence names the policy, the rate, the sample, the window and the end; blocks expire by themselves and an admin can lift one.",
    example: {
      block: 'blk-3f9a01c2',
      policy: 'network/invalid-subids',
      scope: 'offer shoes',
      publisherId: 'pub-31',
      subId: 'rw1',
      metric: 'invalid click rate',
      rate: 0.62,
      sample: 240,
      maxRate: 0.3,
      windowHours: 6,
      until: '2026-11-21T14:00:00.000Z',
    },
    explain: (e) =>
      `${e.subId ? `Sub-id "${e.subId}" of publisher "${e.publisherId}"` : `Publisher "${e.publisherId}"`} is blocked ${
        e.scope === 'network' ? 'across the network' : `on ${e.scope}`
      } until ${e.until}` +
      (typeof e.rate === 'number'
        ? `: its ${e.metric} was ${pct(e.rate)} over ${n(e.sample)} ${e.metric === 'rejection rate' ? 'conversions' : 'clicks'} in the last ${n(e.windowHours)} hours (limit ${pct(e.maxRate)}).`
        : ' by the network.'),
  },
] as const satisfies readonly ReasonCodeSpec[];

export type ReasonCode = (typeof specs)[number]['code'];

/** Every reason code with its metadata, keyed by code. */
export const REASON_CODES: Readonly<Record<ReasonCode, ReasonCodeSpec>> = Object.freeze(
  Object.fromEntries(specs.map((s) => [s.code, s])) as unknown as Record<ReasonCode, ReasonCodeSpec>,
);

export const ALL_REASON_CODES = specs.map((s) => s.code) as ReasonCode[];

export function isReasonCode(value: string): value is ReasonCode {
  return Object.prototype.hasOwnProperty.call(REASON_CODES, value);
}

/** How many of the contributions that raised the score the message names. */
const NAMED = 3;

/**
 * MODEL_RISK's `drivers` from its rows: the contributions that raised the score, the first
 * `NAMED` of them in words. The rule writes them with this and the outcome codec leaves them out
 * of a remembered outcome when they are its rows' own, so both read them the same way.
 */
export function modelRiskDrivers(rows: readonly EvidenceRow[]): string {
  let drivers = '';
  let named = 0;
  for (const row of rows)
    if ((row.contribution as number) > 0 && named++ < NAMED)
      drivers += `${named > 1 ? '; ' : ''}${row.feature} ${row.value ?? 'unknown'} (legitimate typically ${row.typicalLegit ?? 'unknown'}) +${row.contribution}`;
  return named ? drivers : "no single feature: the forest's prior alone";
}
