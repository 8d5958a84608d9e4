import { ConversionEvent, Decision, Offer } from '@app/contracts';
import { DEFAULT_RULESET, resolveRuleSet } from '@app/rules';
import { aCatalog, aClick, aConversion, aFeedback, anOffer, at } from '@app/testing';
import { ScoringEngine } from './scoring-engine';

const HOUR = 3600_000;

/**
 * A payout the network computes from a sale amount nobody authenticated (DESIGN §3a): an open pixel is
 * anybody, so where the publisher is paid a percentage of the sale, the amount it states would set
 * the payout (a hostile review, 2026-12-04: amount 999,999,999,999 was approved with a
 * payout of 200,000,000,000).
 */
describe('an open pixel where the payout is a percentage of the sale', () => {
  /** A click of pub-1 on `offer`, then a conversion on it from `sender`, ten minutes later. */
  function convert(offer: Offer, conversion: Partial<ConversionEvent>, sut = new ScoringEngine(DEFAULT_RULESET)) {
    const catalog = aCatalog({ offers: [offer] });
    const click = aClick({ ip: '8.8.4.4' });
    sut.scoreClick(click, catalog, Date.parse(click.receivedAt));
    const c = aConversion(click, { ts: at(10 * 60_000), offerId: offer.id, ...conversion });
    return { sut, decision: sut.scoreConversion(c, catalog, null, Date.parse(c.receivedAt)) };
  }
  const pixel = { sender: 'pixel' as const, amount: 999_999_999_999 };
  const unverified = (d: Decision) => d.reasons.find((r) => r.code === 'UNVERIFIED_SOURCE');

  it('is held, never approved, when the payout is a percentage', () => {
    const { decision } = convert(anOffer({ openConversions: true, payoutModel: 'percent', payout: 20 }), pixel);
    expect(decision).toMatchObject({ status: 'hold', payout: 200_000_000_000 });
    expect(unverified(decision)?.evidence).toEqual({ sender: 'pixel', offerId: 'offer-1', amountSetsPayout: true });
  });

  it('is held when the publisher’s own payout on the offer is a percentage, not when only the revenue is', () => {
    expect(convert(anOffer({ openConversions: true, revenueModel: 'percent', revenue: 10 }), pixel).decision.status).toBe('approved');
    const own = anOffer({ openConversions: true, publisherPayouts: { 'pub-1': { payoutModel: 'percent', payout: 5 } } });
    expect(convert(own, pixel).decision.status).toBe('hold');
  });

  it('is rejected when its hold expires unconfirmed, approved when its advertiser confirms it first', () => {
    const offer = anOffer({ openConversions: true, payoutModel: 'percent', payout: 20 });
    const { sut, decision } = convert(offer, pixel);
    expect(sut.expireHolds(Date.parse(decision.holdUntil!))).toEqual([
      expect.objectContaining({ conversionId: decision.conversionId, status: 'rejected', resolvedBy: 'timer', reasons: decision.reasons }),
    ]);
    const other = convert(offer, pixel);
    const confirmed = other.sut.applyFeedback(
      aFeedback({ id: other.decision.conversionId }, 'approved', { source: 'advertiser', ts: at(2 * HOUR), receivedAt: at(2 * HOUR) }),
      null,
      Date.parse(at(2 * HOUR)),
    );
    expect(confirmed).toMatchObject({ status: 'approved', previousStatus: 'hold', revision: 1 });
    expect(other.sut.expireHolds(Date.parse(other.decision.holdUntil!))).toEqual([]);
  });

  it('is approved as before on an offer with fixed money (the amount sets nothing)', () => {
    const { decision } = convert(anOffer({ openConversions: true }), pixel);
    expect(decision).toMatchObject({ status: 'approved', payout: 10, revenue: 15 });
    expect(unverified(decision)?.evidence).toEqual({ sender: 'pixel', offerId: 'offer-1' });
  });

  it('is approved when the advertiser itself states the amount, or a rule set monitors UNVERIFIED_SOURCE only', () => {
    const percent = anOffer({ openConversions: true, payoutModel: 'percent', payout: 20 });
    expect(convert(percent, { sender: 'advertiser', senderId: 'adv-1', amount: 80 }).decision).toMatchObject({
      status: 'approved',
      payout: 16,
    });
    const trusting = new ScoringEngine(resolveRuleSet({ version: 'v', rules: { UNVERIFIED_SOURCE: { mode: 'monitor' } } }));
    expect(convert(percent, pixel, trusting).decision.status).toBe('approved');
  });
});

/**
 * A conversion that is not the click's offer's to report (another advertiser's key, or an open pixel of
 * another offer) is rejected OFFER_MISMATCH, and used to count against the click: the click's own
 * advertiser's conversion was then rejected DUPLICATE_CONVERSION (a hostile review, 2026-12-04).
 */
describe('a conversion from somebody who does not own the click', () => {
  const catalog = aCatalog({ offers: [anOffer(), anOffer({ id: 'offer-2', advertiserId: 'adv-2', openConversions: true })] });

  const monitored = resolveRuleSet({ version: 'v', rules: { OFFER_MISMATCH: { mode: 'monitor' } } });
  it.each([
    ['another advertiser’s key', { sender: 'advertiser' as const, senderId: 'adv-2' }, DEFAULT_RULESET],
    ['an open pixel of another offer', { sender: 'pixel' as const, offerId: 'offer-2' }, DEFAULT_RULESET],
    ['another advertiser’s key, OFFER_MISMATCH monitored', { sender: 'advertiser' as const, senderId: 'adv-2' }, monitored],
  ])('uses up neither the click nor the order id: %s', (_, foreign, ruleset) => {
    const sut = new ScoringEngine(ruleset);
    const click = aClick({ ip: '8.8.6.6' });
    sut.scoreClick(click, catalog, Date.parse(click.receivedAt));
    const burn = aConversion(click, { ts: at(10 * 60_000), orderId: 'order-7', ...foreign });
    expect(sut.scoreConversion(burn, catalog, null, Date.parse(burn.receivedAt)).reasons.map((r) => r.code)).toContain('OFFER_MISMATCH');
    const own = aConversion(click, { ts: at(11 * 60_000), orderId: 'order-7', sender: 'advertiser', senderId: 'adv-1' });
    const decision = sut.scoreConversion(own, catalog, null, Date.parse(own.receivedAt));
    expect(decision).toMatchObject({ status: 'approved', advertiserId: 'adv-1', reasons: [] });
  });
});

/**
 * Order ids are counted per advertiser. An open pixel is anybody: on one open offer of an advertiser it
 * took that advertiser's next order numbers on all its offers, without any click, and the advertiser's
 * own conversion was rejected DUPLICATE_CONVERSION (a second hostile review, 2026-12-05).
 */
describe('an open pixel and the advertiser’s order numbers', () => {
  const catalog = aCatalog({ offers: [anOffer(), anOffer({ id: 'offer-open', openConversions: true })] });
  const clickOn = (sut: ScoringEngine, offerId: string, ip: string) => {
    const click = aClick({ ip, offerId });
    sut.scoreClick(click, catalog, Date.parse(click.receivedAt));
    return click;
  };

  it.each([
    ['without a click', false],
    ['on a click of the open offer', true],
  ])('takes no order number from the advertiser’s own conversions: %s', (_, withClick) => {
    const sut = new ScoringEngine(DEFAULT_RULESET);
    const honest = clickOn(sut, 'offer-1', '8.8.6.6');
    const pixelClick = withClick ? clickOn(sut, 'offer-open', '9.9.9.9') : null;
    const burn = aConversion(pixelClick, { ts: at(10 * 60_000), orderId: 'A-1001', offerId: 'offer-open', sender: 'pixel' });
    sut.scoreConversion(burn, catalog, null, Date.parse(burn.receivedAt));
    const own = aConversion(honest, { ts: at(11 * 60_000), orderId: 'A-1001', sender: 'advertiser', senderId: 'adv-1' });
    expect(sut.scoreConversion(own, catalog, null, Date.parse(own.receivedAt))).toMatchObject({ status: 'approved', reasons: [] });
  });

  it('is a duplicate of the advertiser’s own conversion of that order, and of an earlier pixel', () => {
    const sut = new ScoringEngine(DEFAULT_RULESET);
    const own = aConversion(clickOn(sut, 'offer-open', '8.8.6.7'), {
      ts: at(10 * 60_000),
      orderId: 'A-7',
      sender: 'advertiser',
      senderId: 'adv-1',
    });
    sut.scoreConversion(own, catalog, null, Date.parse(own.receivedAt));
    const codes = (orderId: string, ip: string, minute: number) => {
      const c = aConversion(clickOn(sut, 'offer-open', ip), { ts: at(minute * 60_000), orderId, offerId: 'offer-open', sender: 'pixel' });
      return sut.scoreConversion(c, catalog, null, Date.parse(c.receivedAt)).reasons.map((r) => r.code);
    };
    expect(codes('A-7', '9.9.1.1', 11)).toContain('DUPLICATE_CONVERSION');
    expect(codes('P-1', '9.9.1.2', 12)).not.toContain('DUPLICATE_CONVERSION');
    expect(codes('P-1', '9.9.1.3', 13)).toContain('DUPLICATE_CONVERSION');
  });
});
