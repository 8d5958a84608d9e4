import { ClickEvent, ConversionEvent } from '@app/contracts';
import { ScoringEngine } from '@app/decisions';
import { aCatalog, aClick, aConversion, anOffer, aPublisher, at, CHROME_UA, IPHONE_UA } from '@app/testing';
import { DEFAULT_RULESET, RuleSetError, combineLayers, resolveRuleSet, validateLayer } from './ruleset';
import { RuleSetResolver } from './ruleset-config';
import { wilson } from './statistics';

const catalog = aCatalog({
  offers: [anOffer(), anOffer({ id: 'offer-2', advertiserId: 'adv-2' })],
  publishers: [aPublisher(), aPublisher({ id: 'pub-2' })],
});
const HOUR = 3600_000;
const codes = (reasons: { code: string }[]) => reasons.map((r) => r.code);

function clicks(sut: ScoringEngine, events: ClickEvent[]) {
  return events.map((e) => sut.scoreClick(e, catalog, Date.parse(e.receivedAt)));
}

describe('DATACENTER_IP', () => {
  const score = (ip: string, ruleset = DEFAULT_RULESET) => clicks(new ScoringEngine(ruleset), [aClick({ ip })])[0];

  // Real addresses: each provider's own hosts (documented endpoints and published ranges), IPv4 and IPv6.
  it.each([
    ['Amazon Web Services', '52.95.110.1'], // S3 in us-east-1
    ['Amazon Web Services', '2600:1f18:4a3:6901::1'], // EC2 us-east-1 (2600:1f18::/33)
    ['Amazon Web Services', '2a05:d018::1'], // EC2 eu-west-1
    ['Google Cloud', '34.80.0.1'],
    ['Google Cloud', '35.190.0.1'],
    ['Google Cloud', '2600:1900:4000::1'],
    ['Microsoft Azure', '20.42.0.1'],
    ['Microsoft Azure', '40.112.72.205'],
    ['Microsoft Azure', '2603:1030:20e:3::1'],
    ['Oracle Cloud', '129.146.1.1'],
    ['Oracle Cloud', '2603:c020::1'],
    ['DigitalOcean', '167.99.1.1'],
    ['DigitalOcean', '2604:a880:400:d0::1'],
    ['DigitalOcean', '2a03:b0c0:3:d0::1'],
    ['Hetzner', '95.216.1.1'],
    ['Hetzner', '2a01:4f8:c17::1'],
    ['OVHcloud', '51.38.1.1'],
    ['OVHcloud', '2001:41d0:303::1'],
    ['Linode / Akamai Cloud', '45.33.1.1'],
    ['Linode / Akamai Cloud', '2600:3c00::f03c:91ff:fe00:1'],
    ['Alibaba Cloud', '47.88.1.1'],
    ['Alibaba Cloud', '2401:b180::1'],
    ['Tencent Cloud', '43.128.1.1'],
    ['Tencent Cloud', '240d:c000:1::1'],
    ['Vultr', '45.76.1.1'],
    ['Vultr', '2001:19f0:5:1::1'],
    ['Scaleway', '51.15.1.1'],
    ['Scaleway', '2001:bc8:1::1'],
  ])('%s: %s is a data-centre address, and the evidence names the provider', (provider, ip) => {
    const sut = score(ip);
    const reason = sut.reasons.find((r) => r.code === 'DATACENTER_IP');
    expect(reason?.evidence).toEqual({ provider, range: expect.stringContaining('/') });
    expect(reason?.message).toContain(provider);
    expect(sut).toMatchObject({ valid: false, category: 'GIVT' });
  });

  // Real residential and mobile access networks: never in the list.
  it.each([
    ['Comcast', '73.15.1.1'],
    ['Comcast', '2601:600:8f00::1'],
    ['Deutsche Telekom', '91.40.1.1'],
    ['Deutsche Telekom', '2003:e0:1::1'],
    ['BT', '86.150.1.1'],
    ['Orange France', '90.10.1.1'],
    ['Orange France', '2a01:cb00:1::1'],
    ['Verizon Fios', '71.250.1.1'],
    ['Verizon Fios', '2600:4040:1::1'],
    ['AT&T', '99.100.1.1'],
    ['AT&T', '2600:1700:1::1'],
    ['Reliance Jio', '49.36.1.1'],
    ['Reliance Jio', '2405:201:1::1'],
    ['Sky UK', '2a02:c7c:1::1'],
    ['EE mobile', '82.132.1.1'],
  ])('%s: %s is not a data-centre address', (_isp, ip) => {
    expect(codes(score(ip).reasons)).not.toContain('DATACENTER_IP');
  });

  it('names an operator-loaded provider, uses bare operator ranges, honours allow lists and can drop the starter list', () => {
    const ruleset = resolveRuleSet({
      version: 't',
      lists: {
        datacenterRanges: [{ provider: 'Example Hosting', cidrs: ['185.199.108.0/22', '2a04:4e42::/32'] }],
        datacenterCidrs: ['81.2.69.0/24'],
        allowIps: ['104.131.7.0/24'],
      },
    });
    const out = clicks(new ScoringEngine(ruleset), [
      aClick({ ip: '185.199.109.153' }),
      aClick({ ip: '2a04:4e42:200::5' }),
      aClick({ ip: '81.2.69.10' }),
      aClick({ ip: '104.131.7.9' }),
      aClick({ ip: '104.131.8.9' }),
    ]);
    expect(out.map((v) => v.reasons.find((r) => r.code === 'DATACENTER_IP')?.evidence ?? null)).toEqual([
      { provider: 'Example Hosting', range: '185.199.108.0/22' },
      { provider: 'Example Hosting', range: '2a04:4e42::/32' },
      { provider: 'operator list', range: '81.2.69.0/24' },
      null,
      { provider: 'DigitalOcean', range: '104.131.0.0/16' },
    ]);
    const none = resolveRuleSet({ version: 't', lists: { useStarterDatacenterList: false } });
    expect(codes(score('104.131.7.9', none).reasons)).toEqual([]);
  });

  it('refuses a provider list with something that is not a range', () => {
    expect(() => resolveRuleSet({ version: 't', lists: { datacenterRanges: [{ provider: 'X', cidrs: ['10.0.0.0/33'] }] } })).toThrow(
      RuleSetError,
    );
  });
});

describe('BOT_USER_AGENT', () => {
  it.each([
    ['Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)', 'Googlebot', 'Google Inc.'],
    [
      'Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.126 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
      'Googlebot',
      'Google Inc.',
    ],
    ['Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)', 'BingBot', 'Microsoft Corporation'],
    ['Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)', 'YandexBot', 'Yandex LLC'],
    ['facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)', 'Facebook Crawler', 'Meta Platforms, Inc.'],
    ['Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)', 'aHrefs Bot', 'Ahrefs Pte Ltd'],
    [
      'Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)',
      'GPTBot',
      'OpenAI OpCo, LLC',
    ],
    // a crawler no list names: its own product token, no operator
    ['Mozilla/5.0 (compatible; ZqxwvCrawler/0.9)', 'ZqxwvCrawler', null],
    ['Mozilla/5.0 (compatible; Zqxwv-spider/1.0; +http://zq.example/)', 'Zqxwv-spider', null],
  ])('%s is %s of %s', (userAgent, bot, operator) => {
    const [sut] = clicks(new ScoringEngine(DEFAULT_RULESET), [aClick({ userAgent })]);
    const reason = sut.reasons.find((r) => r.code === 'BOT_USER_AGENT');
    expect(reason?.evidence).toMatchObject({ bot, operator });
    expect(reason?.message).toContain(bot);
    if (operator) expect(reason?.message).toContain(operator);
    expect(sut).toMatchObject({ valid: false, category: 'GIVT' });
  });

  it("Googlebot's evidence says Google", () => {
    const [sut] = clicks(new ScoringEngine(DEFAULT_RULESET), [
      aClick({ userAgent: 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)' }),
    ]);
    expect(sut.reasons[0].message).toBe("The visitor's browser identifies itself as an automated agent: Googlebot (Google Inc.).");
  });
});

describe('DENY_LISTED', () => {
  const ruleset = resolveRuleSet({
    version: 't',
    lists: { denyIps: ['9.9.0.0/16'], denyDevices: ['dev-bad'], denyPublishers: ['pub-2'], denySubIds: ['pub-1:bad-sub', 'spam'] },
  });
  it.each([
    ['IP address', { ip: '9.9.1.1' }, '9.9.1.1'],
    ['device', { deviceId: 'dev-bad' }, 'dev-bad'],
    ['publisher', { publisherId: 'pub-2' }, 'pub-2'],
    ['sub-id', { subId: 'bad-sub' }, 'bad-sub'],
    ['sub-id', { subId: 'spam' }, 'spam'],
  ])('rejects a click by %s', (list, overrides, value) => {
    const [sut] = clicks(new ScoringEngine(ruleset), [aClick(overrides)]);
    expect(sut.reasons.find((r) => r.code === 'DENY_LISTED')?.evidence).toEqual({ list, value });
    expect(sut.valid).toBe(false);
  });

  it('rejects a conversion of a deny-listed publisher even when its click predates the list', () => {
    const sut = new ScoringEngine(DEFAULT_RULESET);
    const click = aClick({ publisherId: 'pub-2' });
    clicks(sut, [click]);
    sut.useRules(ruleset);
    const d = sut.scoreConversion(aConversion(click), catalog, null, Date.parse(at(300_000)));
    expect(d.reasons.find((r) => r.code === 'DENY_LISTED')?.evidence).toEqual({ list: 'publisher', value: 'pub-2' });
    expect(d.status).toBe('rejected');
  });

  it('does not touch a sub-id of the same name at another publisher when the entry is scoped', () => {
    const [sut] = clicks(new ScoringEngine(ruleset), [aClick({ publisherId: 'pub-x', subId: 'bad-sub' })]);
    expect(codes(sut.reasons)).not.toContain('DENY_LISTED');
  });
});

describe('DEVICE_VELOCITY', () => {
  it('fires on the 11th click of one device within an hour, across IPs', () => {
    const out = clicks(
      new ScoringEngine(DEFAULT_RULESET),
      Array.from({ length: 11 }, (_, i) => aClick({ deviceId: 'farm-phone', ip: `8.8.${i}.1`, ts: at(i * 60_000) })),
    );
    expect(out.slice(0, 10).flatMap((v) => codes(v.reasons))).toEqual([]);
    expect(out[10].reasons.map((r) => [r.code, r.evidence])).toEqual([['DEVICE_VELOCITY', { window: 'hour', count: 11, limit: 10 }]]);
  });
});

function convert(sut: ScoringEngine, click: ClickEvent, overrides: Partial<ConversionEvent> = {}) {
  if (!sut.holdsClick(click.id)) sut.scoreClick(click, catalog, Date.parse(click.receivedAt));
  const c = aConversion(click, overrides);
  return sut.scoreConversion(c, catalog, null, Date.parse(c.receivedAt));
}

describe('CONVERSION_VELOCITY', () => {
  it('fires for the 4th conversion of one device in a day', () => {
    const sut = new ScoringEngine(DEFAULT_RULESET);
    const out = [0, 1, 2, 3].map((i) =>
      convert(sut, aClick({ ip: `8.8.9.${i + 1}`, deviceId: 'dev-7', userAgent: `${CHROME_UA} ${i}` }), {
        ts: at(HOUR + i),
        deviceId: 'dev-7',
      }),
    );
    expect(out.slice(0, 3).flatMap((d) => codes(d.reasons))).toEqual([]);
    expect(out[3].reasons.find((r) => r.code === 'CONVERSION_VELOCITY')?.evidence).toEqual({ key: 'device', count: 4, limit: 3 });
  });

  it('fires for the 11th conversion from one IP in a day', () => {
    const sut = new ScoringEngine(DEFAULT_RULESET);
    const out = Array.from({ length: 11 }, (_, i) =>
      convert(sut, aClick({ ip: '8.8.4.4', userAgent: `${CHROME_UA} ${i}`, ts: at(i * 40_000) }), { ts: at(HOUR + i) }),
    );
    expect(out[9].reasons).toEqual([]);
    expect(out[10].reasons.find((r) => r.code === 'CONVERSION_VELOCITY')?.evidence).toEqual({ key: 'IP address', count: 11, limit: 10 });
  });
});

describe('DEVICE_MISMATCH', () => {
  it.each([
    ['another device id', { deviceId: 'dev-b' }, 'device id'],
    ['another browser', { userAgent: IPHONE_UA }, 'browser'],
  ])('holds a conversion from %s', (_, overrides, field) => {
    const sut = convert(new ScoringEngine(DEFAULT_RULESET), aClick({ deviceId: 'dev-a' }), overrides);
    expect(sut.reasons.map((r) => [r.code, r.evidence])).toEqual([['DEVICE_MISMATCH', { field }]]);
    expect(sut.status).toBe('hold');
  });

  it('ignores a browser update between click and conversion, and conversions without device data', () => {
    const engine = new ScoringEngine(DEFAULT_RULESET);
    expect(convert(engine, aClick({ ip: '8.8.8.1' }), { userAgent: CHROME_UA.replace('126.0.0.0', '127.0.1.2') }).reasons).toEqual([]);
    expect(convert(engine, aClick({ ip: '8.8.8.2' }), {}).reasons).toEqual([]);
  });
});

describe('PUBLISHER_CR_ANOMALY', () => {
  function traffic(sut: ScoringEngine, clicksN: number, conversionsN: number, overrides: Partial<ClickEvent>) {
    const made = Array.from({ length: clicksN }, (_, i) =>
      aClick({ ip: `9.${(i >> 8) & 255}.${i & 255}.1`, ts: at(i * 1000), ...overrides }),
    );
    clicks(sut, made);
    return made
      .slice(0, conversionsN)
      .map((c, i) =>
        sut.scoreConversion(aConversion(c, { ts: at(made.length * 1000 + i * 1000 + 600_000) }), catalog, null, Date.parse(at(0))),
      );
  }

  it('flags a sub-id converting far above the band once the sample says so', () => {
    const out = traffic(new ScoringEngine(DEFAULT_RULESET), 120, 50, { subId: 'reward-wall' });
    const first = out.findIndex((d) => codes(d.reasons).includes('PUBLISHER_CR_ANOMALY'));
    expect(first).toBeGreaterThan(20); // not on the first conversions: the interval is still wide
    expect(out.at(-1)!.reasons.find((r) => r.code === 'PUBLISHER_CR_ANOMALY')?.evidence).toMatchObject({
      scope: 'sub-id "reward-wall" of publisher "pub-1"',
      clicks: 120,
      conversions: 50,
    });
  });

  it('flags a publisher converting far below the band (click spamming)', () => {
    const out = traffic(new ScoringEngine(DEFAULT_RULESET), 3000, 2, {});
    expect(out.at(-1)!.reasons.find((r) => r.code === 'PUBLISHER_CR_ANOMALY')?.evidence).toMatchObject({
      scope: 'publisher "pub-1"',
      clicks: 3000,
    });
  });

  it('leaves a normal publisher (2 %) alone', () => {
    const out = traffic(new ScoringEngine(DEFAULT_RULESET), 1000, 20, {});
    expect(out.flatMap((d) => codes(d.reasons))).toEqual([]);
  });
});

describe('CLICK_SPAM_PATTERN', () => {
  it('fires once more than 30 % of at least 50 conversions came a day after their clicks', () => {
    const sut = new ScoringEngine(DEFAULT_RULESET);
    const made = Array.from({ length: 60 }, (_, i) => aClick({ ip: `9.9.${i}.1`, ts: at(i * 1000) }));
    clicks(sut, made);
    const out = made.map((c, i) =>
      sut.scoreConversion(aConversion(c, { ts: at(i % 2 ? 30 * HOUR + i : 20 * 60_000 + i) }), catalog, null, 0),
    );
    expect(out.slice(0, 49).flatMap((d) => codes(d.reasons))).not.toContain('CLICK_SPAM_PATTERN');
    expect(out.at(-1)!.reasons.find((r) => r.code === 'CLICK_SPAM_PATTERN')?.evidence).toMatchObject({
      conversions: 60,
      lateShare: 0.5,
      maxLateShare: 0.3,
    });
  });
});

describe('rule-set layers', () => {
  it('applies network, then advertiser, then offer; lists add up', () => {
    const resolver = new RuleSetResolver({
      version: 7,
      network: { rules: { IP_VELOCITY: { perMinute: 50 } }, lists: { denyIps: ['1.1.1.1'] } },
      advertisers: {
        'adv-1': { rules: { IP_VELOCITY: { perHour: 100 }, GEO_MISMATCH: { mode: 'monitor' } }, lists: { denyIps: ['2.2.2.2'] } },
      },
      offers: { 'offer-1': { rules: { IP_VELOCITY: { perMinute: 5 } }, policy: { holdHours: 2 } } },
    });
    const offer = resolver.for('adv-1', 'offer-1');
    expect(offer.version).toBe('v7');
    expect(offer.rules.IP_VELOCITY.params).toEqual({ perMinute: 5, perHour: 100, perDay: 1000 });
    expect(offer.rules.GEO_MISMATCH.mode).toBe('monitor');
    expect(offer.policy.holdHours).toBe(2);
    expect(offer.lists.denyIps.match('1.1.1.1')).not.toBeNull();
    expect(offer.lists.denyIps.match('2.2.2.2')).not.toBeNull();
    const other = resolver.for('adv-2', 'offer-2');
    expect(other.rules.IP_VELOCITY.params).toEqual({ perMinute: 50, perHour: 200, perDay: 1000 });
    expect(other.lists.denyIps.match('2.2.2.2')).toBeNull();
    expect(resolver.for('adv-1', 'offer-1')).toBe(offer); // cached
  });

  it('refuses invalid layers with the field named', () => {
    expect(() => validateLayer({ lists: { denyIps: ['not-an-ip'] } })).toThrow(/lists.*not-an-ip/);
    expect(() => validateLayer({ rules: { DEVICE_VELOCITY: { perHour: 0 } } })).toThrow(RuleSetError);
    expect(() => validateLayer({ policy: { holdHours: -1 } })).toThrow(/holdHours/);
  });

  it('starts from DESIGN §4 defaults', () => {
    const sut = combineLayers('x', []);
    expect(sut.rules.CTIT_TOO_SHORT.params).toEqual({ minSeconds: { default: 15, sale: 15, install: 10, lead: 10 } });
    expect(sut.rules.PUBLISHER_CR_ANOMALY.params).toEqual({ low: 0.005, high: 0.2, minClicks: 100 });
    expect(sut.rules.CLICK_SPAM_PATTERN.params).toEqual({ maxLateShare: 0.3, minConversions: 50 });
    expect(sut.rules.DUPLICATE_CLICK.params).toEqual({ windowSeconds: 30 });
  });
});

describe('wilson', () => {
  it.each([
    [0, 100, 0, 0.037],
    [50, 100, 0.404, 0.596],
    [1, 1000, 0.0002, 0.0057],
  ])('%i of %i → [%f, %f]', (k, n, low, high) => {
    const sut = wilson(k, n);
    expect(sut.low).toBeCloseTo(low, 3);
    expect(sut.high).toBeCloseTo(high, 3);
  });
});
