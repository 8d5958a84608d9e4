import { aCatalog, aClick, aConversion, aPublisher, anOffer, at, CHROME_UA } from '@app/testing';
import {
  EnforcementBlock,
  EnforcementPolicy,
  PolicyInForce,
  RuleSetResolver,
  consumedBefore,
  decideBlocks,
  forgettable,
  policiesInForce,
  stillStands,
  validateConfig,
  RuleSetError,
  EMPTY_RULESET_CONFIG,
  clickTimeReasons,
} from '@app/rules';
import { clickTimeOutcome } from './click-time';
import { ScoringEngine } from './scoring-engine';
import { ShadowOutcome, ShadowRules } from './shadow-rules';

const NOW = new Date('2026-11-21T14:00:00.000Z');
const H = 3_600_000;

const policy = (over: Partial<EnforcementPolicy> = {}): EnforcementPolicy => ({
  id: 'invalid-subs',
  entity: 'subId',
  metric: 'invalidRate',
  minSample: 100,
  windowHours: 6,
  maxRate: 0.3,
  blockOn: 'offer',
  blockHours: 24,
  ...over,
});
const inForce = (over: Partial<EnforcementPolicy> = {}): PolicyInForce => ({
  ref: 'network/invalid-subs',
  policy: policy(over),
  covers: {},
});
let n = 0;
const ids = () => `blk-${(++n).toString(16).padStart(8, '0')}`;
const stat = (over: Partial<{ publisherId: string; subId: string | null; offerId: string | null; sample: number; hits: number }> = {}) => ({
  publisherId: 'pub-1',
  subId: 's1',
  offerId: 'offer-1',
  sample: 200,
  hits: 100,
  ...over,
});
const block = (over: Partial<EnforcementBlock> = {}): EnforcementBlock => ({
  id: ids(),
  publisherId: 'pub-1',
  subId: 's1',
  offerId: 'offer-1',
  policy: 'network/invalid-subs',
  evidence: {
    metric: 'invalidRate',
    rate: 0.5,
    sample: 200,
    maxRate: 0.3,
    minSample: 100,
    windowHours: 6,
    from: new Date(NOW.getTime() - 6 * H).toISOString(),
    to: NOW.toISOString(),
  },
  createdAt: new Date(NOW.getTime() - H).toISOString(),
  until: new Date(NOW.getTime() + 23 * H).toISOString(),
  ...over,
});

describe('enforcement policy decisions', () => {
  it('blocks a sub-id on its offer when its rate exceeds the limit over at least the sample, with the evidence', () => {
    const [sut, ...rest] = decideBlocks(inForce(), [stat({ sample: 200, hits: 62 })], [], NOW, ids);
    expect(rest).toEqual([]);
    expect(sut).toMatchObject({
      publisherId: 'pub-1',
      subId: 's1',
      offerId: 'offer-1',
      policy: 'network/invalid-subs',
      evidence: { metric: 'invalidRate', rate: 0.31, sample: 200, maxRate: 0.3, minSample: 100, windowHours: 6, to: NOW.toISOString() },
      createdAt: NOW.toISOString(),
      until: '2026-11-22T14:00:00.000Z',
    });
    expect(sut.evidence.from).toBe('2026-11-21T08:00:00.000Z');
  });

  it.each([
    ['a rate at the limit (it must exceed it)', stat({ sample: 200, hits: 60 })],
    ['a sample below the minimum', stat({ sample: 99, hits: 99 })],
    ['traffic without a sub-id under a sub-id policy', stat({ subId: null })],
  ])('does not block on %s', (_name, s) => {
    expect(decideBlocks(inForce(), [s], [], NOW, ids)).toEqual([]);
  });

  it('blocks a whole publisher network-wide under a publisher / network policy', () => {
    const [sut] = decideBlocks(inForce({ entity: 'publisher', blockOn: 'network' }), [stat({ subId: null, offerId: null })], [], NOW, ids);
    expect(sut).toMatchObject({ publisherId: 'pub-1' });
    expect(sut.subId).toBeUndefined();
    expect(sut.offerId).toBeUndefined();
  });

  it('does not block a target a block in force already covers (same target, its publisher, or network-wide)', () => {
    const p = inForce();
    expect(decideBlocks(p, [stat()], [block()], NOW, ids)).toEqual([]);
    expect(decideBlocks(p, [stat()], [block({ subId: undefined })], NOW, ids)).toEqual([]);
    expect(decideBlocks(p, [stat()], [block({ offerId: undefined })], NOW, ids)).toEqual([]);
    // Another offer's block, or another sub-id's, does not cover it.
    expect(decideBlocks(p, [stat()], [block({ offerId: 'offer-2' })], NOW, ids)).toHaveLength(1);
    expect(decideBlocks(p, [stat()], [block({ subId: 's2' })], NOW, ids)).toHaveLength(1);
    // An expired or lifted block no longer covers it.
    expect(decideBlocks(p, [stat()], [block({ until: new Date(NOW.getTime() - 1).toISOString() })], NOW, ids)).toHaveLength(1);
    expect(decideBlocks(p, [stat()], [block({ liftedAt: new Date(NOW.getTime() - H).toISOString() })], NOW, ids)).toHaveLength(1);
  });

  it('counts a target again only after its last block ended: the window starts at the lift (or the end)', () => {
    const lifted = block({ liftedAt: new Date(NOW.getTime() - 2 * H).toISOString() });
    const [sut] = decideBlocks(inForce(), [stat()], [lifted], NOW, ids);
    expect(sut.evidence.from).toBe(lifted.liftedAt);
    // What the statistics leave out: the target's traffic up to the lift.
    expect(consumedBefore([lifted])).toEqual([{ publisherId: 'pub-1', subId: 's1', offerId: 'offer-1', before: lifted.liftedAt }]);
  });

  it('drops a decided block when, by the time it is written, another covers the target or a lift overlaps its window', () => {
    const [candidate] = decideBlocks(inForce(), [stat()], [], NOW, ids);
    expect(stillStands(candidate, [], NOW)).toBe(true);
    // Another instance blocked it meanwhile.
    expect(stillStands(candidate, [block()], NOW)).toBe(false);
    // An admin lifted a block of the target after the candidate's window began: that evidence is spent.
    expect(stillStands(candidate, [block({ liftedAt: new Date(NOW.getTime() - H).toISOString() })], NOW)).toBe(false);
    // A block that ended before the window is no reason to drop it.
    const old = block({ createdAt: at(0), until: new Date(NOW.getTime() - 7 * H).toISOString() });
    expect(stillStands(candidate, [old], NOW)).toBe(true);
  });

  it('forgets an ended block once its window has passed after the end, not before', () => {
    const ended = block({ until: new Date(NOW.getTime() - 5 * H).toISOString() });
    expect(forgettable(ended, NOW)).toBe(false);
    expect(forgettable(ended, new Date(NOW.getTime() + 2 * H))).toBe(true);
    expect(forgettable(block(), new Date(NOW.getTime() + 2 * H))).toBe(false);
  });

  it('applies each layer’s policies to the traffic that layer covers', () => {
    const sut = policiesInForce({
      network: { enforcement: [policy({ id: 'a' })] },
      advertisers: { shop: { enforcement: [policy({ id: 'b' })] } },
      offers: { shoes: { enforcement: [policy({ id: 'c' })] } },
    });
    expect(sut.map((p) => [p.ref, p.covers])).toEqual([
      ['network/a', {}],
      ['advertiser:shop/b', { advertiserId: 'shop' }],
      ['offer:shoes/c', { offerId: 'shoes' }],
    ]);
  });

  it('validates policies like the rest of the rule set', () => {
    const config = (enforcement: unknown) => ({ ...EMPTY_RULESET_CONFIG, network: { enforcement } });
    expect(() => validateConfig(config([policy()]))).not.toThrow();
    expect(() => validateConfig(config([policy({ maxRate: 30 })]))).toThrow(RuleSetError);
    expect(() => validateConfig(config([policy(), policy()]))).toThrow(/used twice/);
    expect(() => validateConfig(config([{ ...policy(), metric: 'fraudRate' }]))).toThrow(RuleSetError);
  });
});

describe('ENFORCEMENT_BLOCK', () => {
  const offer = anOffer();
  const publisher = aPublisher();
  const config = (blocks: EnforcementBlock[], layer: object = {}) =>
    new RuleSetResolver(validateConfig({ ...EMPTY_RULESET_CONFIG, version: 3, offers: { 'offer-1': layer }, blocks }));
  const active = block({ createdAt: at(-H), until: at(H) });
  const active0 = active;

  it('invalidates a blocked sub-id’s clicks on the offer while the block is in force, with the block’s evidence', () => {
    const engine = new ScoringEngine(config([active]));
    const catalog = aCatalog();
    const sut = engine.scoreClick(aClick({ subId: 's1', ts: at(0) }), catalog, Date.parse(at(0)));
    expect(sut.valid).toBe(false);
    const reason = sut.reasons.find((r) => r.code === 'ENFORCEMENT_BLOCK')!;
    expect(reason.evidence).toMatchObject({
      block: active.id,
      policy: 'network/invalid-subs',
      scope: 'offer offer-1',
      rate: 0.5,
      sample: 200,
    });
    expect(reason.message).toContain('blocked on offer offer-1 until');
    // Another sub-id, and the same sub-id after the block's end, are not blocked by it.
    expect(engine.scoreClick(aClick({ subId: 's2', ts: at(1) }), catalog, Date.parse(at(1))).reasons.map((r) => r.code)).not.toContain(
      'ENFORCEMENT_BLOCK',
    );
    expect(engine.scoreClick(aClick({ subId: 's1', ts: at(H + 1) }), catalog, Date.parse(at(H + 1))).valid).toBe(true);
  });

  it('rejects the conversions of a blocked sub-id’s clicks with the block’s reason', () => {
    const engine = new ScoringEngine(config([active]));
    const catalog = aCatalog();
    // The click came before the block: it was valid; its conversion arrives while the block is in force.
    const click = aClick({ subId: 's1', ts: at(-2 * H) });
    expect(engine.scoreClick(click, catalog, Date.parse(click.ts)).valid).toBe(true);
    const sut = engine.scoreConversion(aConversion(click, { ts: at(0) }), catalog, null, Date.parse(at(0)));
    expect(sut.status).toBe('rejected');
    expect(sut.reasons.map((r) => r.code)).toContain('ENFORCEMENT_BLOCK');
  });

  it('is checked at the tracking link, so a blocked click follows the offer’s click blocking', () => {
    const event = aClick({ userAgent: CHROME_UA, subId: 's1', ts: at(0) });
    const fallback = config([active], { clickBlocking: { mode: 'fallback', fallbackUrl: 'https://network.example/blocked' } }).for(
      'adv-1',
      'offer-1',
    );
    expect(clickTimeOutcome(fallback, { event, offer, publisher })).toMatchObject({
      blocked: true,
      fallbackUrl: 'https://network.example/blocked',
    });
    // Under the default (pass and score) it reaches the offer; the scorer invalidates it afterwards.
    expect(clickTimeOutcome(config([active]).for('adv-1', 'offer-1'), { event, offer, publisher }).blocked).toBe(false);
    expect(clickTimeReasons(fallback, { event, offer, publisher }).map((r) => r.code)).toEqual(['ENFORCEMENT_BLOCK']);
  });

  it('does not judge traffic from before the block was made (a backtest of older history)', () => {
    const early = aClick({ subId: 's1', ts: at(-2 * H) });
    expect(new ScoringEngine(config([active])).scoreClick(early, aCatalog(), 0).valid).toBe(true);
  });

  it('ignores a lifted block, and applies a network-wide one on every offer', () => {
    const lifted = { ...active, liftedAt: at(0) };
    expect(new ScoringEngine(config([lifted])).scoreClick(aClick({ subId: 's1', ts: at(1) }), aCatalog(), 0).valid).toBe(true);
    const { offerId: _o, subId: _s, ...everywhere } = active;
    const other = aClick({ offerId: 'offer-2', subId: 'zz', ts: at(1) });
    const catalog = aCatalog({ offers: [anOffer(), anOffer({ id: 'offer-2' })] });
    expect(new ScoringEngine(config([everywhere])).scoreClick(other, catalog, 0).reasons.map((r) => r.code)).toContain('ENFORCEMENT_BLOCK');
  });

  it('applies to a running shadow as it is now: a block made while the shadow runs is no disagreement', () => {
    const active = validateConfig({ ...EMPTY_RULESET_CONFIG, version: 4, blocks: [active0] });
    const candidate = validateConfig({ ...EMPTY_RULESET_CONFIG, version: 3, network: { description: 'candidate' } });
    const engine = new ScoringEngine(new RuleSetResolver(active));
    const seen: ShadowOutcome[] = [];
    // Built on the configuration of the day it started (no block yet): the blocked click reads as a disagreement.
    const shadow = new ShadowRules(new RuleSetResolver(candidate), 'shadow-x');
    engine.useShadowRules(shadow, (o) => seen.push(o));
    engine.scoreClick(aClick({ subId: 's1', ts: at(0) }), aCatalog(), 0);
    expect(seen.pop()).toMatchObject({ activeStatus: 'invalid', shadowStatus: 'valid', agree: false });
    // With the active blocks (what the scorer's watcher hands it: settings' shadowConfig), both sides block it.
    shadow.useResolver(new RuleSetResolver({ ...candidate, blocks: active.blocks }));
    engine.scoreClick(aClick({ subId: 's1', ts: at(1) }), aCatalog(), 0);
    expect(seen.pop()).toMatchObject({ activeStatus: 'invalid', shadowStatus: 'invalid', agree: true });
  });
});
