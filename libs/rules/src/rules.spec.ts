import { ClickEvent, ConversionEvent } from '@app/contracts';
import { ScoringEngine } from '@app/decisions';
import { aCatalog, aClick, aConversion, anOffer, aPublisher, at, IPHONE_UA } from '@app/testing';
import { DEFAULT_RULESET, resolveRuleSet } from './ruleset';

/**
 * Every rule, driven through the scoring engine so the tests see what a user sees: the reason
 * codes, their evidence and their plain messages.
 */
const catalog = aCatalog({
  offers: [
    anOffer(),
    anOffer({ id: 'offer-us', allowedCountries: ['US', 'CA'] }),
    anOffer({ id: 'offer-paused', status: 'paused' }),
    anOffer({ id: 'offer-multi', maxConversionsPerClick: 3 }),
  ],
  publishers: [aPublisher(), aPublisher({ id: 'pub-banned', status: 'suspended' })],
});

function scoreClicks(clicks: ClickEvent[], sut = new ScoringEngine(DEFAULT_RULESET)) {
  return clicks.map((c) => sut.scoreClick(c, catalog, Date.parse(c.receivedAt)));
}

function codes(reasons: { code: string }[]) {
  return reasons.map((r) => r.code);
}

describe('click rules', () => {
  it('a normal click fires nothing and is valid', () => {
    const [sut] = scoreClicks([aClick()]);
    expect(sut.reasons).toEqual([]);
    expect(sut.valid).toBe(true);
    expect(sut.category).toBeNull();
  });

  it.each([
    ['BOT_USER_AGENT', { userAgent: 'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)' }, 'GIVT'],
    ['NON_BROWSER_CLIENT', { userAgent: '' }, 'GIVT'],
    ['NON_BROWSER_CLIENT', { userAgent: 'curl/8.4.0' }, 'GIVT'],
    ['INVALID_IP', { ip: '192.168.1.20', ipCountry: null }, 'GIVT'],
    ['INVALID_IP', { ip: 'not-an-address', ipCountry: null }, 'GIVT'],
    ['UNKNOWN_OFFER', { offerId: 'offer-nope' }, 'GIVT'],
    ['UNKNOWN_PUBLISHER', { publisherId: 'pub-nope' }, 'GIVT'],
    ['UNKNOWN_PUBLISHER', { publisherId: 'pub-banned' }, 'GIVT'],
    ['INACTIVE_OFFER', { offerId: 'offer-paused' }, 'GIVT'],
  ] as const)('%s fires for %j and makes the click invalid', (code, overrides, category) => {
    const [sut] = scoreClicks([aClick(overrides as Partial<ClickEvent>)]);
    expect(codes(sut.reasons)).toContain(code);
    expect(sut.valid).toBe(false);
    expect(sut.category).toBe(category);
    const reason = sut.reasons.find((r) => r.code === code)!;
    expect(reason.message.length).toBeGreaterThan(10);
    expect(Object.keys(reason.evidence).length).toBeGreaterThan(0);
  });

  it('GEO_MISMATCH fires when the IP country is outside the offer countries, and only holds the click as suspicious', () => {
    const [sut] = scoreClicks([aClick({ offerId: 'offer-us', ip: '81.2.69.142', ipCountry: 'GB' })]);
    expect(sut.reasons.map((r) => [r.code, r.evidence])).toEqual([['GEO_MISMATCH', { country: 'GB', allowed: 'US, CA' }]]);
    expect(sut.valid).toBe(true); // medium severity alone does not invalidate a click
    expect(sut.score).toBeGreaterThan(0);
  });

  it('GEO_MISMATCH stays quiet for an allowed country or an unrestricted offer', () => {
    const out = scoreClicks([aClick({ offerId: 'offer-us', ipCountry: 'CA' }), aClick({ ipCountry: 'GB' })]);
    expect(out.flatMap((v) => codes(v.reasons))).toEqual([]);
  });

  it('DUPLICATE_CLICK fires for the same visitor within 30 s, not after', () => {
    const same = { ip: '8.8.4.4', userAgent: IPHONE_UA };
    const out = scoreClicks([aClick({ ...same, ts: at(0) }), aClick({ ...same, ts: at(12_000) }), aClick({ ...same, ts: at(60_000) })]);
    expect(out.map((v) => codes(v.reasons))).toEqual([[], ['DUPLICATE_CLICK'], []]);
    expect(out[1].reasons[0].evidence).toEqual({ secondsSincePrevious: 12, windowSeconds: 30 });
  });

  it('DUPLICATE_CLICK does not fire for another offer or another user agent', () => {
    const out = scoreClicks([
      aClick({ ts: at(0) }),
      aClick({ ts: at(1000), offerId: 'offer-us' }),
      aClick({ ts: at(2000), userAgent: IPHONE_UA }),
    ]);
    expect(out.flatMap((v) => codes(v.reasons))).toEqual([]);
  });

  it('IP_VELOCITY fires on the 21st click from one IP within a minute', () => {
    // Different user agents so that DUPLICATE_CLICK stays out of the way.
    const clicks = Array.from({ length: 21 }, (_, i) => aClick({ ip: '9.9.9.9', userAgent: `${IPHONE_UA} v${i}`, ts: at(i * 2000) }));
    const out = scoreClicks(clicks);
    expect(out.slice(0, 20).flatMap((v) => codes(v.reasons))).toEqual([]);
    expect(out[20].reasons.map((r) => [r.code, r.evidence])).toEqual([['IP_VELOCITY', { window: 'minute', count: 21, limit: 20 }]]);
    expect(out[20].valid).toBe(false);
    expect(out[20].category).toBe('SIVT');
  });

  it('IP_VELOCITY fires on the hourly limit for slow steady flooding', () => {
    const clicks = Array.from({ length: 201 }, (_, i) => aClick({ ip: '9.9.9.10', userAgent: `${IPHONE_UA} v${i}`, ts: at(i * 15_000) }));
    const last = scoreClicks(clicks).at(-1)!;
    expect(last.reasons.map((r) => [r.code, r.evidence])).toEqual([['IP_VELOCITY', { window: 'hour', count: 201, limit: 200 }]]);
  });

  it('keeps velocity per IP: other addresses are unaffected', () => {
    const flood = Array.from({ length: 30 }, (_, i) => aClick({ ip: '9.9.9.11', userAgent: `UA ${i} ${IPHONE_UA}`, ts: at(i * 1000) }));
    const out = scoreClicks([...flood, aClick({ ip: '1.1.1.1', ts: at(31_000) })]);
    expect(codes(out.at(-1)!.reasons)).toEqual([]);
  });
});

function scoreConversion(click: ClickEvent | null, conversion: ConversionEvent, sut = new ScoringEngine(DEFAULT_RULESET)) {
  if (click) sut.scoreClick(click, catalog, Date.parse(click.receivedAt));
  return sut.scoreConversion(conversion, catalog, null, Date.parse(conversion.receivedAt));
}

describe('conversion rules', () => {
  it('a conversion 5 minutes after a clean click is approved with no reasons', () => {
    const click = aClick();
    const sut = scoreConversion(click, aConversion(click, { ts: at(300_000) }));
    expect(sut.reasons).toEqual([]);
    expect(sut.status).toBe('approved');
    expect(sut.ctitSeconds).toBe(300);
    expect(sut.advertiserId).toBe('adv-1');
    expect(sut.publisherId).toBe('pub-1');
    expect(sut.payout).toBe(10); // from the offer
  });

  it('UNKNOWN_CLICK rejects a conversion whose click was never seen', () => {
    const sut = scoreConversion(null, aConversion(null, { clickId: 'never-seen' }));
    expect(sut.reasons.map((r) => [r.code, r.evidence])).toEqual([['UNKNOWN_CLICK', { clickId: 'never-seen' }]]);
    expect(sut.status).toBe('rejected');
    expect(sut.ctitSeconds).toBeNull();
  });

  it('uses a click found in the database when it is no longer in memory', () => {
    const sut = new ScoringEngine(DEFAULT_RULESET);
    const stored = {
      id: 'old-click',
      t: Date.parse(at(-3_600_000)),
      offerId: 'offer-1',
      publisherId: 'pub-1',
      subId: 's1',
      ip: '8.8.8.8',
      userAgent: IPHONE_UA,
      deviceId: null,
      country: 'US',
      declaredCountry: null,
      valid: true,
      risk: 0,
      probability: null,
      referrer: true,
      reasonCodes: [],
      conversions: 0,
    };
    const c = aConversion({ id: 'old-click' });
    const decision = sut.scoreConversion(c, catalog, stored, Date.parse(c.receivedAt));
    expect(decision.status).toBe('approved');
    expect(decision.subId).toBe('s1');
    expect(decision.ctitSeconds).toBeCloseTo(3900, 0);
  });

  it.each([
    ['sale', 14, true],
    ['sale', 16, false],
    ['install', 9, true],
    ['install', 11, false],
    ['lead', 9.5, true],
  ])('CTIT_TOO_SHORT for a %s %ss after the click: %s', (type, seconds, fires) => {
    const click = aClick();
    const sut = scoreConversion(click, aConversion(click, { type, ts: at(seconds * 1000) }));
    expect(codes(sut.reasons).includes('CTIT_TOO_SHORT')).toBe(fires);
    if (fires) {
      expect(sut.status).toBe('rejected');
      expect(sut.reasons[0].message).toContain(type);
    }
  });

  it('CTIT_TOO_LONG rejects a conversion after the 30-day attribution window', () => {
    const sut = new ScoringEngine(DEFAULT_RULESET);
    const stored = {
      id: 'ancient',
      t: Date.parse(at(-31 * 86_400_000)),
      offerId: 'offer-1',
      publisherId: 'pub-1',
      subId: null,
      ip: '8.8.8.8',
      userAgent: IPHONE_UA,
      deviceId: null,
      country: 'US',
      declaredCountry: null,
      valid: true,
      risk: 0,
      probability: null,
      referrer: true,
      reasonCodes: [],
      conversions: 0,
    };
    const c = aConversion({ id: 'ancient' });
    const decision = sut.scoreConversion(c, catalog, stored, Date.parse(c.receivedAt));
    expect(decision.reasons.map((r) => [r.code, r.evidence])).toEqual([['CTIT_TOO_LONG', { ctitDays: 31, windowDays: 30 }]]);
    expect(decision.status).toBe('rejected');
  });

  it('DUPLICATE_CONVERSION rejects an order id the advertiser already credited', () => {
    const sut = new ScoringEngine(DEFAULT_RULESET);
    const [a, b] = [aClick({ ip: '8.8.8.1' }), aClick({ ip: '8.8.8.2' })];
    const first = scoreConversion(a, aConversion(a, { orderId: 'order-7' }), sut);
    const second = scoreConversion(b, aConversion(b, { orderId: 'order-7' }), sut);
    expect(first.status).toBe('approved');
    expect(second.status).toBe('rejected');
    expect(second.reasons[0]).toMatchObject({
      code: 'DUPLICATE_CONVERSION',
      evidence: { orderId: 'order-7', firstConversionId: first.conversionId },
    });
  });

  it('DUPLICATE_CONVERSION rejects a click converting more often than the offer allows', () => {
    const sut = new ScoringEngine(DEFAULT_RULESET);
    const single = aClick();
    const multi = aClick({ offerId: 'offer-multi', ip: '8.8.8.3' });
    const outcomes = [
      scoreConversion(single, aConversion(single), sut),
      sut.scoreConversion(aConversion(single), catalog, null, Date.parse(at(300_000))),
      ...[1, 2, 3, 4].map((i) =>
        i === 1
          ? scoreConversion(multi, aConversion(multi), sut)
          : sut.scoreConversion(aConversion(multi), catalog, null, Date.parse(at(300_000))),
      ),
    ];
    expect(outcomes.map((d) => d.status)).toEqual(['approved', 'rejected', 'approved', 'approved', 'approved', 'rejected']);
    expect(outcomes[1].reasons[0].evidence).toEqual({ previousConversions: 1, allowed: 1 });
  });

  it('answers a redelivered conversion with the same decision instead of calling it a duplicate', () => {
    const sut = new ScoringEngine(DEFAULT_RULESET);
    const click = aClick();
    const conversion = aConversion(click, { orderId: 'o-1' });
    const first = scoreConversion(click, conversion, sut);
    const again = sut.scoreConversion(conversion, catalog, null, Date.parse(at(400_000)));
    expect(again).toEqual(first);
  });

  it('GEO_MISMATCH holds a conversion from another country than its click', () => {
    const click = aClick({ ipCountry: 'US' });
    const sut = scoreConversion(click, aConversion(click, { ip: '81.2.69.142', ipCountry: 'GB' }));
    expect(sut.reasons.map((r) => [r.code, r.evidence])).toEqual([['GEO_MISMATCH', { conversionCountry: 'GB', clickCountry: 'US' }]]);
    expect(sut.status).toBe('hold');
  });

  it('INVALID_SOURCE_CLICK inherits the reasons of an invalid click', () => {
    const click = aClick({ userAgent: 'curl/8.4.0' });
    const sut = scoreConversion(click, aConversion(click));
    expect(sut.reasons).toHaveLength(1);
    expect(sut.reasons[0]).toMatchObject({ code: 'INVALID_SOURCE_CLICK', evidence: { clickReasons: 'NON_BROWSER_CLIENT' } });
    expect(sut.status).toBe('rejected');
  });

  it('UNKNOWN_OFFER and INACTIVE_OFFER apply to the click’s offer, or the one an unattributed conversion names', () => {
    expect(codes(scoreConversion(null, aConversion(null, { offerId: 'gone' })).reasons)).toContain('UNKNOWN_OFFER');
    const click = aClick({ ip: '8.8.8.9', offerId: 'offer-paused' });
    expect(codes(scoreConversion(click, aConversion(click)).reasons)).toContain('INACTIVE_OFFER');
  });

  it('OFFER_MISMATCH: a conversion stays on its click’s offer and advertiser', () => {
    const click = aClick();
    const named = scoreConversion(click, aConversion(click, { offerId: 'offer-paused', ts: at(300_000) }));
    expect([named.offerId, named.status, codes(named.reasons)]).toEqual(['offer-1', 'rejected', ['OFFER_MISMATCH']]);
    const click2 = aClick({ ip: '8.8.8.10' });
    const foreign = scoreConversion(click2, aConversion(click2, { sender: 'advertiser', senderId: 'adv-2', ts: at(300_000) }));
    expect(codes(foreign.reasons)).toEqual(['OFFER_MISMATCH']);
    const click3 = aClick({ ip: '8.8.8.11' });
    const own = scoreConversion(click3, aConversion(click3, { sender: 'advertiser', senderId: 'adv-1', ts: at(300_000) }));
    expect(codes(own.reasons)).toEqual([]);
  });
});

describe('rule sets', () => {
  it('a monitor-only rule is recorded but does not change the outcome', () => {
    const ruleset = resolveRuleSet({ version: 'monitor-ctit', rules: { CTIT_TOO_SHORT: { mode: 'monitor' } } });
    const click = aClick();
    const sut = scoreConversion(click, aConversion(click, { ts: at(3000) }), new ScoringEngine(ruleset));
    expect(sut.reasons).toMatchObject([{ code: 'CTIT_TOO_SHORT', monitorOnly: true }]);
    expect(sut.status).toBe('approved');
    expect(sut.score).toBe(0);
    expect(sut.rulesetVersion).toBe('monitor-ctit');
  });

  it('a rule switched off does not run', () => {
    const ruleset = resolveRuleSet({ version: 'no-bots', rules: { BOT_USER_AGENT: { mode: 'off' } } });
    const [sut] = scoreClicks([aClick({ userAgent: 'Googlebot/2.1 (+http://www.google.com/bot.html)' })], new ScoringEngine(ruleset));
    expect(sut.reasons).toEqual([]);
  });

  it('thresholds are parameters', () => {
    const ruleset = resolveRuleSet({
      version: 'strict',
      rules: { IP_VELOCITY: { perMinute: 2 }, CTIT_TOO_SHORT: { minSeconds: { sale: 60 } } },
    });
    expect(ruleset.rules.IP_VELOCITY.params).toEqual({ perMinute: 2, perHour: 200, perDay: 1000 });
    expect(ruleset.rules.CTIT_TOO_SHORT.params).toEqual({ minSeconds: { default: 15, sale: 60, install: 10, lead: 10 } });
    const out = scoreClicks(
      [0, 1, 2].map((i) => aClick({ ip: '7.7.7.7', userAgent: `UA${i} ${IPHONE_UA}`, ts: at(i * 1000) })),
      new ScoringEngine(ruleset),
    );
    expect(codes(out[2].reasons)).toEqual(['IP_VELOCITY']);
  });

  it('refuses an invalid rule set with the field named', () => {
    expect(() => resolveRuleSet({ version: 'x', rules: { IP_VELOCITY: { perMinute: 'lots' } } })).toThrow(/IP_VELOCITY\.perMinute/);
    expect(() => resolveRuleSet({ version: 'x', rules: { NOT_A_RULE: {} } })).toThrow(/NOT_A_RULE/);
    expect(() => resolveRuleSet({ version: 'x', policy: { holdThreshold: 0.9, rejectThreshold: 0.5 } })).toThrow(/holdThreshold/);
  });
});
