import Heap from 'mnemonist/heap';
import { clickPartition } from '@app/contracts';
import { COUNTRIES, ConversionType, SimCatalog, SimOffer, SimPublisher, generateCatalog, worldCountry } from './catalog';
import { IpPools } from './ip-pools';
import { Random } from './random';
import { SimClick, SimConversion, SimEvent } from './sim-events';
import { APP_USER_AGENTS, TrafficProfile } from './profiles';
import { CRAWLER_USER_AGENTS, SCRIPT_USER_AGENTS, browserUserAgent } from './user-agents';

export interface SimulatorOptions {
  seed: number;
  /** About this many events (clicks, conversions, feedback) in all. */
  events: number;
  /** Traffic spans this many hours from `start`. */
  hours: number;
  start: Date;
  /** Scorer partitions the click ids are minted for. */
  partitions: number;
  /**
   * The first hours are warm-up: their events carry no label, so evaluation and training let
   * them fill the windows (as a running engine's would be) without counting them (DESIGN §3).
   */
  warmupHours?: number;
  /** How the legitimate traffic looks (default `network`); the fraud is the same in every profile. */
  profile?: TrafficProfile;
}

/** Share of all clicks each pattern produces; `human` is the legitimate traffic. */
export const PATTERN_SHARES = {
  human: 0.679,
  declared_bot: 0.03,
  headless: 0.03,
  datacenter: 0.03,
  click_flooding: 0.04,
  // One spammer with the network's largest click volume: enough organic conversions to claim that
  // its CTIT pattern shows over the 50-conversion minimum of CLICK_SPAM_PATTERN (issue 15).
  click_spamming: 0.12,
  click_injection: 0.012,
  device_farm: 0.02,
  geo_masking: 0.012,
  incentivized: 0.012,
  sophisticated: 0.015,
} as const;
export type Pattern = keyof typeof PATTERN_SHARES | 'duplicate_orders';

/** Share of each pattern's clicks that carry a referrer (humans: set where they click). */
const REFERRER_SHARE: Partial<Record<Pattern, number>> = {
  declared_bot: 0.2,
  headless: 0.3,
  datacenter: 0.45,
  click_flooding: 0.5,
  click_spamming: 0.6,
  click_injection: 0.05,
  device_farm: 0.05,
  geo_masking: 0.6,
  incentivized: 0.7,
  sophisticated: 0.6,
};

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
// Events per click, on average (conversions ≈ 5 %, feedback ≈ 1.5 %): turns --events into clicks.
const EVENTS_PER_CLICK = 1.065;

interface User {
  ip: string;
  userAgent: string;
  mobile: boolean;
  deviceId?: string;
  country: string;
}

/**
 * Realistic, labelled, reproducible affiliate traffic. A discrete-event simulation, minute by
 * minute: each pattern spawns clicks at its share of a diurnal volume; clicks schedule their
 * conversions (and advertisers their feedback) in the future; a heap releases everything in time
 * order. Every click and conversion carries `label` (fraud / legit) and `pattern`.
 */
export class Simulator {
  readonly catalog: SimCatalog;
  private readonly rng: Random;
  private readonly pools: IpPools;
  private readonly heap = new Heap<{ t: number; seq: number; event: SimEvent }>((a, b) => a.t - b.t || a.seq - b.seq);
  private seq = 0;
  private readonly recentUsers: User[] = [];
  private readonly honestPublishers: SimPublisher[];
  private readonly fraudPublishers: SimPublisher[];
  private readonly floodIps: { ip: string; agents: string[] }[];
  private readonly farms: { ip: string; devices: string[]; country: string }[];
  private readonly sophisticatedIps: string[];
  private readonly profile: TrafficProfile;
  /** `new-publishers`: publishers joining during the period, each from its start time on. */
  private readonly newcomers: { publisher: SimPublisher; from: number }[] = [];
  /** `shared-address`: households and offices, each one address with its people. */
  private readonly sharedAddresses: { ip: string; country: string; users: User[] }[] = [];
  /** Offers crawlers still reach through old links: one paused (in the catalog), one deleted (not). */
  private readonly staleOffers: SimOffer[];
  private readonly end: number;
  private readonly warmupEnd: number;

  constructor(readonly options: SimulatorOptions) {
    this.rng = new Random(options.seed);
    this.catalog = generateCatalog(this.rng);
    this.pools = new IpPools(this.rng, COUNTRIES, 150);
    const pubs = this.catalog.publishers;
    // pub-31…36 mix some real traffic with fraud; pub-37 spams clicks, pub-38 was suspended (its
    // scripts still send clicks), pub-39 injects clicks, pub-40 runs a device farm.
    this.honestPublishers = pubs.slice(0, 36);
    this.fraudPublishers = pubs.slice(30, 36);
    pubs[37].status = 'suspended';
    // No random draws here: the rest of a seed's network stays as it was.
    const ended = (id: string, name: string): SimOffer => ({
      ...this.catalog.offers[0],
      id,
      name,
      url: `https://adv1.example/landing/${id}?click_id={click_id}`,
    });
    this.catalog.paused.push({ ...ended('off-25', 'Ended promotion'), status: 'paused' });
    this.staleOffers = [this.catalog.paused[0], ended('off-26', 'Deleted offer')];
    this.floodIps = Array.from({ length: 12 }, () => ({
      ip: this.pools.fresh(this.rng, worldCountry(this.rng)),
      agents: [0, 1, 2].map(() => browserUserAgent(this.rng)),
    }));
    this.farms = Array.from({ length: 2 }, () => {
      const country = this.rng.pick(['US', 'GB', 'DE']);
      return { ip: this.pools.fresh(this.rng, country), country, devices: Array.from({ length: 8 }, () => this.deviceId()) };
    });
    this.sophisticatedIps = Array.from({ length: 300 }, () => this.pools.fresh(this.rng, this.rng.pick(['US', 'GB', 'DE', 'CA'])));
    this.end = options.start.getTime() + options.hours * HOUR;
    this.warmupEnd = options.start.getTime() + (options.warmupHours ?? 0) * HOUR;
    this.profile = options.profile ?? 'network';
    if (this.profile === 'new-publishers') {
      for (let i = 0; i < 60; i++) {
        const publisher: SimPublisher = {
          id: `pub-new-${String(i + 1).padStart(2, '0')}`,
          name: `New publisher ${i + 1}`,
          subIds: Array.from({ length: this.rng.int(1, 4) }, (_, j) => `n${j + 1}`),
          weight: this.rng.logNormal(1, 0.8),
          site: `https://new${i + 1}.example/`,
        };
        this.catalog.publishers.push(publisher);
        // Spread over the whole period, warm-up included: some are days old at the end, some minutes.
        this.newcomers.push({ publisher, from: options.start.getTime() + this.rng.uniform(0, options.hours) * HOUR });
      }
    }
    if (this.profile === 'shared-address') {
      for (let i = 0; i < 400; i++) {
        const office = this.rng.chance(0.2);
        const country = worldCountry(this.rng);
        const ip = this.pools.fresh(this.rng, country);
        const users = Array.from({ length: office ? this.rng.int(20, 80) : this.rng.int(2, 6) }, () => {
          const mobile = this.rng.chance(office ? 0.3 : 0.6);
          return { ip, country, mobile, userAgent: browserUserAgent(this.rng, mobile ? 'mobile' : 'desktop') };
        });
        this.sharedAddresses.push({ ip, country, users });
      }
    }
  }

  /** Every event, in time order. */
  *events(): Generator<SimEvent> {
    const clicks = this.options.events / EVENTS_PER_CLICK;
    const minutes = Math.max(1, Math.round(this.options.hours * 60));
    const perMinute = clicks / minutes;
    for (let m = 0; m < minutes; m++) {
      const t0 = this.options.start.getTime() + m * MINUTE;
      const volume = perMinute * diurnal(t0);
      for (const [pattern, share] of Object.entries(PATTERN_SHARES) as [keyof typeof PATTERN_SHARES, number][]) {
        this.spawn(pattern, this.rng.poisson(volume * share), t0);
      }
      yield* this.release(t0 + MINUTE);
    }
    yield* this.release(this.end);
  }

  private *release(until: number): Generator<SimEvent> {
    while (this.heap.size > 0 && this.heap.peek()!.t < until) yield this.heap.pop()!.event;
  }

  private schedule(event: SimEvent): void {
    const t = Date.parse(event.ts);
    if (t >= this.end) return; // beyond the simulated span
    if (event.kind !== 'feedback' && t < this.warmupEnd) delete (event as { label?: string }).label;
    this.heap.push({ t, seq: this.seq++, event });
  }

  private spawn(pattern: keyof typeof PATTERN_SHARES, count: number, t0: number): void {
    for (let i = 0; i < count; i++) {
      const t = t0 + this.rng.int(0, MINUTE - 1);
      switch (pattern) {
        case 'human':
          this.human(t);
          break;
        case 'declared_bot':
          // Crawlers also follow old links: to a paused offer, or one the network deleted.
          this.click(
            t,
            'declared_bot',
            this.rng.chance(0.1) ? this.rng.pick(this.staleOffers) : this.rng.pick(this.catalog.offers),
            this.rng.pick(this.catalog.publishers),
            {
              ip: this.rng.chance(0.5) ? IpPools.datacenter(this.rng) : this.pools.fresh(this.rng, worldCountry(this.rng)),
              userAgent: this.rng.pick(CRAWLER_USER_AGENTS),
              mobile: false,
              country: 'US',
            },
          );
          break;
        case 'headless':
          this.fakeConverter(t, 'headless', this.rng.pick(SCRIPT_USER_AGENTS), this.rng.chance(0.6), 0.03);
          break;
        case 'datacenter':
          this.fakeConverter(t, 'datacenter', browserUserAgent(this.rng), true, 0.03);
          break;
        case 'click_flooding':
          // Bursts rather than single clicks: about one spawn in 95 starts a burst of 40–150.
          if (this.rng.chance(1 / 95)) this.flood(t);
          break;
        case 'click_spamming':
          this.spam(t);
          break;
        case 'click_injection':
          this.inject(t);
          break;
        case 'device_farm':
          this.farm(t);
          break;
        case 'geo_masking':
          this.geoMask(t);
          break;
        case 'incentivized':
          this.incentivized(t);
          break;
        case 'sophisticated':
          this.sophisticated(t);
          break;
      }
    }
  }

  // ---- legitimate traffic ----------------------------------------------------------------------

  private human(t: number): void {
    const p = this.profile;
    if (p === 'newsletter' && this.rng.chance(1 / 8000)) this.newsletter(t);
    // A household or office first: its people click offers open to their country.
    const home = p === 'shared-address' ? this.rng.pick(this.sharedAddresses) : null;
    const offers = home
      ? this.catalog.offers.filter((o) => !o.trafficCountries.length || o.trafficCountries.includes(home.country))
      : p === 'app-s2s'
        ? this.catalog.offers.filter((o) => o.type === 'install')
        : p === 'shop'
          ? this.catalog.offers.filter((o) => o.type === 'sale')
          : this.catalog.offers;
    const offer = this.rng.pick(offers);
    let publisher = this.rng.weighted(
      this.honestPublishers,
      this.honestPublishers.map((pub, i) => (i >= 30 ? pub.weight * 0.3 : pub.weight)),
    );
    let referrerShare = p === 'app-s2s' ? 0 : p === 'shop' ? 0.8 : 0.6;
    if (p === 'new-publishers' && this.rng.chance(0.5)) {
      const joined = this.newcomers.filter((n) => n.from <= t);
      if (joined.length) {
        publisher = this.rng.weighted(
          joined.map((n) => n.publisher),
          joined.map((n) => n.publisher.weight),
        );
        referrerShare = 0.5;
      }
    }
    const country = offer.trafficCountries.length ? this.rng.pick(offer.trafficCountries) : this.worldCountryFor();
    let user = this.returningOrNewUser(country, offer.type === 'install');
    if (p === 'app-s2s') {
      user = {
        ...user,
        mobile: true,
        deviceId: user.deviceId ?? this.deviceId(),
        userAgent: this.rng.chance(0.5) ? this.rng.pick(APP_USER_AGENTS) : user.userAgent,
      };
    } else if (home) {
      user = this.rng.pick(home.users);
    }
    const click = this.click(t, 'human', offer, publisher, user, { referrer: this.rng.chance(referrerShare) ? publisher.site : undefined });
    // A real person sometimes double-clicks a link.
    if (this.rng.chance(0.002)) this.click(t + this.rng.int(1, 20) * SECOND, 'human', offer, publisher, user, { referrer: click.referrer });
    if (this.rng.chance(offer.conversionRate)) {
      const conversion = this.convert(click, offer, user, 'human', 'legit', t + this.humanCtit(offer.type));
      // Advertisers' systems re-send a postback now and then; the copy must not be paid twice.
      if (conversion && this.rng.chance(0.02)) {
        this.schedule({
          ...conversion,
          id: this.rng.uuidv7(Date.parse(conversion.ts)),
          ts: iso(Date.parse(conversion.ts) + this.rng.int(5, 120) * MINUTE),
          label: 'fraud',
          pattern: 'duplicate_orders',
        });
      }
    }
  }

  /** A newsletter drop: an honest publisher mails its readers one offer; they click within minutes, without a referrer. */
  private newsletter(t: number): void {
    const offer = this.rng.pick(this.catalog.offers.filter((o) => o.trafficCountries.length === 0));
    const publisher = this.rng.pick(this.honestPublishers.slice(0, 30));
    const readers = this.rng.int(1000, 3000);
    for (let i = 0; i < readers; i++) {
      // Most readers open the mail in the first minutes, the rest over the next hour.
      const at = t + Math.floor(this.rng.chance(0.7) ? this.rng.uniform(0, 10) * MINUTE : this.rng.uniform(10, 60) * MINUTE);
      const user = this.returningOrNewUser(this.worldCountryFor(), false);
      const click = this.click(at, 'human', offer, publisher, user);
      if (this.rng.chance(offer.conversionRate)) this.convert(click, offer, user, 'human', 'legit', at + this.humanCtit(offer.type));
    }
  }

  private humanCtit(type: ConversionType): number {
    if (type === 'install') return Math.max(12 * SECOND, this.rng.logNormal(3 * MINUTE, 0.8));
    if (type === 'lead') return Math.max(14 * SECOND, this.rng.logNormal(6 * MINUTE, 0.9));
    // Shoppers mostly buy in the session, some come back days later (in the `shop` profile, many do).
    if (this.profile === 'shop') {
      if (this.rng.chance(0.2)) return this.rng.uniform(24, 10 * 24) * HOUR;
      if (this.rng.chance(0.3)) return this.rng.uniform(1, 24) * HOUR;
    }
    if (this.rng.chance(0.07)) return this.rng.uniform(24, 7 * 24) * HOUR;
    return Math.max(20 * SECOND, this.rng.logNormal(20 * MINUTE, 1.2));
  }

  private returningOrNewUser(country: string, app: boolean): User {
    if (this.recentUsers.length > 100 && this.rng.chance(0.2)) {
      const user = this.rng.pick(this.recentUsers);
      if (user.country === country) return user;
    }
    const mobile = this.rng.chance(0.6);
    const user: User = {
      ip: this.pools.fresh(this.rng, country),
      userAgent: browserUserAgent(this.rng, mobile ? 'mobile' : 'desktop'),
      mobile,
      deviceId: mobile && (app || this.rng.chance(0.4)) ? this.deviceId() : undefined,
      country,
    };
    if (this.recentUsers.length >= 5000) this.recentUsers[this.rng.int(0, 4999)] = user;
    else this.recentUsers.push(user);
    return user;
  }

  private worldCountryFor(): string {
    return worldCountry(this.rng);
  }

  // ---- fraud -------------------------------------------------------------------------------

  /**
   * Scripts, bots in data centers: invalid clicks whose fake postbacks must be rejected too. Scripts
   * (`headless`) are the crudest: some post server-to-server clicks with a made-up private or
   * reserved address, some still run for the suspended pub-38, and some of their postbacks are
   * forged: for a click the network never issued (some of those replayed from an ended promotion),
   * or naming a better-paying offer than the click's.
   */
  private fakeConverter(t: number, pattern: Pattern, userAgent: string, datacenter: boolean, conversionRate: number): void {
    const offer = this.rng.pick(this.catalog.offers);
    const country = offer.trafficCountries[0] ?? 'US';
    const script = pattern === 'headless';
    const user: User = {
      ip: datacenter
        ? IpPools.datacenter(this.rng)
        : script && this.rng.chance(0.1)
          ? this.reservedIp()
          : this.pools.fresh(this.rng, country),
      userAgent,
      mobile: false,
      country,
    };
    const publisher = script && this.rng.chance(0.2) ? this.catalog.publishers[37] : this.rng.pick(this.fraudPublishers);
    const click = this.click(t, pattern, offer, publisher, user);
    if (!this.rng.chance(conversionRate)) return;
    const forged = script ? this.rng.pick(['click', 'ended', 'offer', null, null] as const) : null;
    const otherOffer = () => this.rng.pick(this.catalog.offers.filter((o) => o.id !== offer.id)).id;
    this.convert(click, offer, null, pattern, 'fraud', t + this.rng.uniform(30, 600) * SECOND, {
      ...(forged === 'click' || forged === 'ended' ? { clickId: `${click.id.split('.')[0]}.${this.rng.uuidv7(t)}` } : {}),
      ...(forged === 'ended' ? { offerId: this.rng.pick(this.staleOffers).id } : forged === 'offer' ? { offerId: otherOffer() } : {}),
    });
  }

  /** What a careless or forging script puts in a click's IP field: private, loopback, link-local, unspecified. */
  private reservedIp(): string {
    const b = () => this.rng.int(0, 255);
    return this.rng.pick([
      `10.${b()}.${b()}.${b()}`,
      `192.168.${b()}.${b()}`,
      `172.16.${b()}.${b()}`,
      '127.0.0.1',
      `169.254.${b()}.${b()}`,
      '0.0.0.0',
    ]);
  }

  private flood(t: number): void {
    const source = this.rng.pick(this.floodIps);
    const offer = this.rng.pick(this.catalog.offers);
    const publisher = this.rng.pick(this.fraudPublishers);
    const n = this.rng.int(40, 150);
    const span = this.rng.uniform(1, 4) * MINUTE;
    for (let i = 0; i < n; i++) {
      const at = t + Math.floor((i / n) * span);
      const user: User = { ip: source.ip, userAgent: this.rng.pick(source.agents), mobile: false, country: 'US' };
      const click = this.click(at, 'click_flooding', offer, publisher, user);
      if (this.rng.chance(0.005)) this.convert(click, offer, null, 'click_flooding', 'fraud', at + this.humanCtit(offer.type));
    }
  }

  /**
   * Click spamming: pub-37 fires clicks for people who never saw an ad — huge volumes, in the hope of
   * being the last click before their later organic conversion.
   */
  private spam(t: number): void {
    const offer = this.rng.pick(this.catalog.offers);
    const publisher = this.catalog.publishers[36];
    const country = offer.trafficCountries.length ? this.rng.pick(offer.trafficCountries) : worldCountry(this.rng);
    const mobile = this.rng.chance(0.7);
    const user: User = {
      ip: this.pools.fresh(this.rng, country),
      userAgent: browserUserAgent(this.rng, mobile ? 'mobile' : 'desktop'),
      mobile,
      country,
    };
    const click = this.click(t, 'click_spamming', offer, publisher, user);
    // Some of the people it fires clicks for convert anyway, on their own (the spammer aims at the
    // offer's likely customers, so not far below the offer's rate): the click claims an organic
    // conversion whose time has nothing to do with it, so the CTIT is flat over the days after the
    // click (here three, so a 72-hour simulation sees them) instead of peaking in the first minutes.
    if (this.rng.chance(offer.conversionRate * 0.8))
      this.convert(click, offer, null, 'click_spamming', 'fraud', t + this.rng.uniform(0.5, 72) * HOUR);
  }

  /** Malware on the phone fires a click seconds before the install it saw starting. */
  private inject(t: number): void {
    const offers = this.catalog.offers.filter((o) => o.type === 'install');
    const offer = this.rng.pick(offers);
    const country = offer.trafficCountries.length ? this.rng.pick(offer.trafficCountries) : worldCountry(this.rng);
    const user: User = {
      ip: this.pools.fresh(this.rng, country),
      userAgent: browserUserAgent(this.rng, 'mobile'),
      mobile: true,
      deviceId: this.deviceId(),
      country,
    };
    const click = this.click(t, 'click_injection', offer, this.catalog.publishers[38], user);
    if (this.rng.chance(0.35)) this.convert(click, offer, user, 'click_injection', 'fraud', t + this.rng.uniform(1, 8) * SECOND);
  }

  /** Racks of phones (eight a rack) behind one connection, each clicking and installing again and again. */
  private farm(t: number): void {
    const farm = this.rng.pick(this.farms);
    const offer = this.rng.pick(this.catalog.offers.filter((o) => o.type === 'install'));
    const user: User = {
      ip: farm.ip,
      userAgent: browserUserAgent(this.rng, 'mobile'),
      mobile: true,
      deviceId: this.rng.pick(farm.devices),
      country: farm.country,
    };
    const click = this.click(t, 'device_farm', offer, this.catalog.publishers[39], user, { subId: 'f1' });
    if (this.rng.chance(0.12)) this.convert(click, offer, user, 'device_farm', 'fraud', t + this.rng.uniform(30, 300) * SECOND);
  }

  /** Users from countries an offer does not pay for, behind proxies in ones it does. */
  private geoMask(t: number): void {
    const offers = this.catalog.offers.filter((o) => o.allowedCountries?.length);
    const offer = this.rng.pick(offers);
    const real = this.rng.pick(['IN', 'BR', 'MX', 'PL'].filter((c) => !offer.allowedCountries!.includes(c)));
    const proxyCountry = this.rng.pick(offer.allowedCountries!);
    const user: User = {
      ip: this.pools.fresh(this.rng, proxyCountry),
      userAgent: browserUserAgent(this.rng),
      mobile: false,
      country: real,
    };
    const click = this.click(t, 'geo_masking', offer, this.rng.pick(this.fraudPublishers), user, { country: real });
    if (this.rng.chance(0.05)) {
      const home: User = { ...user, ip: this.pools.fresh(this.rng, real) };
      this.convert(click, offer, home, 'geo_masking', 'fraud', t + this.humanCtit(offer.type), { carryUser: true });
    }
  }

  /** A reward wall: people paid to install or sign up, converting far above any normal rate. */
  private incentivized(t: number): void {
    const offer = this.rng.pick(this.catalog.offers.filter((o) => o.type !== 'sale'));
    const publisher = this.catalog.publishers[30];
    const country = offer.trafficCountries.length ? this.rng.pick(offer.trafficCountries) : worldCountry(this.rng);
    const user = this.returningOrNewUser(country, offer.type === 'install');
    const click = this.click(t, 'incentivized', offer, publisher, user, { subId: this.rng.pick(['rw1', 'rw2']) });
    if (this.rng.chance(0.3)) this.convert(click, offer, user, 'incentivized', 'fraud', t + this.rng.uniform(20, 200) * SECOND);
  }

  /**
   * Fraud built to pass every single rule: residential addresses in the right countries, real
   * browsers, moderate repetition, conversion rates in band, click-to-conversion times just above
   * the minimums. Only the combination gives it away — the model's job.
   */
  private sophisticated(t: number): void {
    const offer = this.rng.pick(this.catalog.offers);
    const ip = this.rng.pick(this.sophisticatedIps);
    const user: User = { ip, userAgent: browserUserAgent(this.rng), mobile: false, country: 'US' };
    const publisher = this.rng.pick(this.catalog.publishers.slice(30, 36));
    const click = this.click(t, 'sophisticated', offer, publisher, user);
    if (this.rng.chance(0.06)) {
      const min = offer.type === 'sale' ? 16 : 11;
      this.convert(click, offer, null, 'sophisticated', 'fraud', t + this.rng.uniform(min, min + 30) * SECOND);
    }
  }

  // ---- events --------------------------------------------------------------------------------

  private click(
    t: number,
    pattern: Pattern,
    offer: SimOffer,
    publisher: SimPublisher,
    user: User,
    extra: { subId?: string; referrer?: string; country?: string } = {},
  ): SimClick {
    const partition = clickPartition(user.ip, this.options.partitions);
    const click: SimClick = {
      kind: 'click',
      id: `c${partition}.${this.rng.uuidv7(t)}`,
      ts: iso(t),
      offerId: offer.id,
      publisherId: publisher.id,
      subId: extra.subId ?? this.rng.pick(publisher.subIds),
      ip: user.ip,
      userAgent: user.userAgent,
      ...(extra.referrer ? { referrer: extra.referrer } : {}),
      ...(user.deviceId ? { deviceId: user.deviceId } : {}),
      ...(extra.country ? { country: extra.country } : this.rng.chance(0.4) ? { country: user.country } : {}),
      label: pattern === 'human' ? 'legit' : 'fraud',
      pattern,
    };
    this.schedule(click);
    return click;
  }

  /**
   * A conversion for `click` at time `t`. With `user`, the conversion carries the device data
   * a pixel reports (IP, browser, device id); without, it is a bare server-to-server postback.
   * `clickId` / `offerId`: what a forged postback claims instead of the click's.
   */
  private convert(
    click: SimClick,
    offer: SimOffer,
    user: User | null,
    pattern: Pattern,
    label: 'fraud' | 'legit',
    t: number,
    { carryUser = false, clickId, offerId }: { carryUser?: boolean; clickId?: string; offerId?: string } = {},
  ): SimConversion | null {
    if (t >= this.end) return null;
    const pixel = user && (carryUser || this.rng.chance(0.5));
    let ip = user?.ip;
    let userAgent = user?.userAgent;
    if (pixel && pattern === 'human') {
      if (this.rng.chance(0.02))
        ip = this.pools.fresh(this.rng, this.rng.pick(COUNTRIES.filter((c) => c !== user!.country))); // roaming
      else if (this.rng.chance(0.08)) ip = this.pools.fresh(this.rng, user!.country); // another network
      if (this.rng.chance(0.03)) userAgent = browserUserAgent(this.rng); // finished on another device
    }
    const amount = offer.type === 'sale' ? Math.round(this.rng.logNormal(offer.amount, 0.5) * 100) / 100 : offer.amount;
    const conversion: SimConversion = {
      kind: 'conversion',
      id: this.rng.uuidv7(t),
      ts: iso(t),
      clickId: clickId ?? click.id,
      ...(offerId ? { offerId } : {}),
      ...(offer.type === 'install' ? {} : { orderId: `ORD-${this.rng.hex(12)}` }),
      amount,
      currency: 'USD',
      type: offer.type,
      ...(pixel ? { ip, userAgent, ...(user!.deviceId ? { deviceId: user!.deviceId } : {}) } : {}),
      label,
      pattern,
    };
    this.schedule(conversion);
    this.feedback(conversion, t);
    return conversion;
  }

  /** Advertisers confirm or reject about a third of conversions hours later, imperfectly. */
  private feedback(conversion: SimConversion, t: number): void {
    if (!this.rng.chance(0.3)) return;
    const fraud = conversion.label === 'fraud';
    const status = fraud ? (this.rng.chance(0.7) ? 'rejected' : 'approved') : this.rng.chance(0.03) ? 'rejected' : 'approved';
    const at = t + this.rng.uniform(1, 20) * HOUR;
    this.schedule({
      kind: 'feedback',
      id: this.rng.uuidv7(at),
      ts: iso(at),
      conversionId: conversion.id,
      status,
      ...(status === 'rejected' ? { reason: fraud ? 'failed verification' : 'customer returned the order' } : {}),
    });
  }

  private deviceId(): string {
    return this.rng.uuidv7(1_600_000_000_000 + this.rng.int(0, 1e9)).toUpperCase();
  }
}

/** Traffic volume by hour of day (UTC): a trough at night, a peak in the evening, mean 1. */
function diurnal(t: number): number {
  const hour = new Date(t).getUTCHours() + new Date(t).getUTCMinutes() / 60;
  return 1 + 0.45 * Math.sin(((hour - 10) / 24) * 2 * Math.PI);
}

function iso(t: number): string {
  return new Date(Math.round(t)).toISOString();
}
