import { EMPTY_RULESET_CONFIG, RuleSetResolver } from '@app/rules';
import { aCatalog, aClick, aConversion, at } from '@app/testing';
import { ScoringEngine } from './scoring-engine';
import { ShadowOutcome, ShadowRules } from './shadow-rules';

const catalog = aCatalog();
const resolver = (network: Record<string, unknown>, version = 5) =>
  new RuleSetResolver({ ...EMPTY_RULESET_CONFIG, version, network } as typeof EMPTY_RULESET_CONFIG);

function run(sut: ScoringEngine, ip: string, clicks: number) {
  const out = [];
  for (let i = 0; i < clicks; i++) {
    const click = aClick({ ip, ts: at(i * 1000), userAgent: `Mozilla/5.0 Chrome/126.0 ${i}` });
    const verdict = sut.scoreClick(click, catalog, Date.parse(click.receivedAt));
    const c = aConversion(click, { ts: at(10 * 60_000 + i * 1000), orderId: `o-${ip}-${i}` });
    out.push({ verdict, decision: sut.scoreConversion(c, catalog, null, Date.parse(c.receivedAt)) });
  }
  return out;
}

describe('shadow rule set', () => {
  it('agrees everywhere when it is the active rule set', () => {
    const sut = new ScoringEngine(resolver({}));
    const seen: ShadowOutcome[] = [];
    sut.useShadowRules(new ShadowRules(resolver({}), 'shadow-same'), (o) => seen.push(o));
    run(sut, '8.8.8.8', 3);
    expect(seen).toHaveLength(6);
    // The conversion is judged before it is credited to its click: no phantom DUPLICATE_CONVERSION.
    expect(seen.every((o) => o.agree)).toBe(true);
    expect(seen.map((o) => o.shadowStatus)).toEqual(['valid', 'approved', 'valid', 'approved', 'valid', 'approved']);
  });

  it('records what a tightened rule would change, and never changes what the engine decides', () => {
    const active = new ScoringEngine(resolver({}));
    const seen: ShadowOutcome[] = [];
    active.useShadowRules(new ShadowRules(resolver({ rules: { IP_VELOCITY: { perMinute: 2 } } }), 'shadow-tight'), (o) => seen.push(o));
    const outcomes = run(active, '8.8.4.4', 4);
    const without = run(new ScoringEngine(resolver({})), '8.8.4.4', 4);
    // The live outcomes are those of an engine without a shadow.
    expect(outcomes.map((o) => [o.verdict.valid, o.decision.status])).toEqual(without.map((o) => [o.verdict.valid, o.decision.status]));
    expect(outcomes.every((o) => o.verdict.valid && o.decision.status === 'approved')).toBe(true);
    const disagreements = seen.filter((o) => !o.agree);
    // Clicks 3 and 4 exceed 2 a minute under the shadow; their conversions inherit the shadow's view of the click.
    expect(disagreements.map((o) => [o.kind, o.activeStatus, o.shadowStatus])).toEqual([
      ['click', 'valid', 'invalid'],
      ['conversion', 'approved', 'rejected'],
      ['click', 'valid', 'invalid'],
      ['conversion', 'approved', 'rejected'],
    ]);
    expect(disagreements[0]).toMatchObject({
      shadowVersion: 'shadow-tight',
      activeVersion: 'v5',
      shadowCodes: ['IP_VELOCITY'],
      activeCodes: [],
    });
    expect(disagreements[1].shadowCodes).toContain('INVALID_SOURCE_CLICK');
    expect(disagreements[1].payout).toBe(10);
  });

  it('stops when withdrawn', () => {
    const sut = new ScoringEngine(resolver({}));
    const seen: ShadowOutcome[] = [];
    sut.useShadowRules(new ShadowRules(resolver({}), 's'), (o) => seen.push(o));
    sut.useShadowRules(null);
    run(sut, '8.8.8.8', 1);
    expect(seen).toEqual([]);
  });
});
