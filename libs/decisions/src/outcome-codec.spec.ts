import { REASON_CODES } from '@app/contracts';
import type { ClickVerdict, Decision, Reason } from '@app/contracts';
import { ModelRuntime } from '@app/model';
import { DEFAULT_RULESET } from '@app/rules';
import { CHROME_UA, aCatalog, aClick, aConversion } from '@app/testing';
import { DECISION_CODEC, VERDICT_CODEC } from './outcome-codec';
import { ScoringEngine } from './scoring-engine';

const catalog = aCatalog();

/** What a consumer of the published outcome receives. */
const published = <T>(o: T): T => JSON.parse(JSON.stringify(o)) as T;
const roundTrip = <T extends ClickVerdict | Decision>(codec: { pack(v: T): unknown; unpack(p: any): T }, o: T): T =>
  codec.unpack(JSON.parse(JSON.stringify(codec.pack(o))));

function modelRisk(overrides: Partial<Reason> = {}): Reason {
  const evidence = {
    probability: 0.93,
    threshold: 0.5,
    model: 'm-1',
    authority: 'advisory',
    basis: 'trained on simulated traffic',
    explanation: 'per-event',
    bias: 0.33,
    contributions: [
      { feature: 'rules_risk', value: 1, typicalLegit: 0, contribution: 0.29 },
      { feature: 'ip_datacenter', value: null, typicalLegit: 0, contribution: 0.016 },
    ],
    drivers: 'rules_risk 1 (legitimate typically 0) +0.29; ip_datacenter unknown (legitimate typically 0) +0.016',
  };
  const spec = REASON_CODES.MODEL_RISK;
  return {
    code: 'MODEL_RISK',
    category: spec.category,
    severity: 'high',
    message: spec.explain(evidence),
    evidence,
    monitorOnly: false,
    ...overrides,
  };
}

function aVerdict(reasons: Reason[]): ClickVerdict {
  const click = aClick({ userAgent: 'curl/8.4.0' });
  const verdict = new ScoringEngine(DEFAULT_RULESET).scoreClick(click, catalog, Date.parse(click.receivedAt));
  return { ...verdict, reasons: [...verdict.reasons, ...reasons] };
}

function aDecision(): Decision {
  const engine = new ScoringEngine(DEFAULT_RULESET);
  const click = aClick({ userAgent: 'curl/8.4.0' });
  engine.scoreClick(click, catalog, Date.parse(click.receivedAt));
  const conversion = aConversion(click);
  return engine.scoreConversion(conversion, catalog, null, Date.parse(conversion.receivedAt));
}

describe('the remembered outcomes codec', () => {
  it('keeps a verdict in fewer bytes than its JSON and gives back exactly what was published', () => {
    const verdict = aVerdict([modelRisk()]);
    expect(verdict.reasons.length).toBeGreaterThan(1);
    const packed = JSON.stringify(VERDICT_CODEC.pack(verdict));
    expect(packed.length).toBeLessThan(JSON.stringify(verdict).length * 0.7);
    // The catalogue's messages are not stored: they are built again from the evidence.
    for (const r of verdict.reasons) expect(packed).not.toContain(r.message);
    expect(roundTrip(VERDICT_CODEC, verdict)).toEqual(published(verdict));
    expect(JSON.stringify(roundTrip(VERDICT_CODEC, verdict))).toBe(JSON.stringify(verdict));
  });

  it('keeps a minted id', () => {
    const verdict: ClickVerdict = { ...aVerdict([]), idMinted: true };
    expect(JSON.stringify(roundTrip(VERDICT_CODEC, verdict))).toBe(JSON.stringify(verdict));
  });

  it('keeps a decision with its reasons, and one whose keys came in another order (loaded from the database)', () => {
    const decision = aDecision();
    expect(decision.reasons.length).toBeGreaterThan(0);
    expect(JSON.stringify(DECISION_CODEC.pack(decision)).length).toBeLessThan(JSON.stringify(decision).length * 0.8);
    expect(JSON.stringify(roundTrip(DECISION_CODEC, decision))).toBe(JSON.stringify(decision));
    const { kind, conversionId, ...rest } = decision;
    const reordered = { conversionId, kind, ...rest } as Decision;
    expect(JSON.stringify(roundTrip(DECISION_CODEC, reordered))).toBe(JSON.stringify(reordered));
  });

  it('keeps a message the catalogue would not write (an older release’s) and a category it does not give', () => {
    const verdict = aVerdict([modelRisk({ message: 'written by an older release' }), modelRisk({ category: 'GIVT' })]);
    expect(JSON.stringify(roundTrip(VERDICT_CODEC, verdict))).toBe(JSON.stringify(verdict));
  });

  it('gives evidence JSON cannot keep (NaN, undefined, -0) back as JSON gives it, message included', () => {
    const odd = modelRisk();
    const evidence = { ...odd.evidence, probability: NaN, bias: -0, extra: undefined } as unknown as Reason['evidence'];
    const verdict = aVerdict([{ ...odd, evidence, message: REASON_CODES.MODEL_RISK.explain(evidence) }]);
    const again = roundTrip(VERDICT_CODEC, verdict);
    expect(again).toEqual(published(verdict));
    expect(again.reasons.at(-1)!.message).toBe(verdict.reasons.at(-1)!.message);
  });

  it('leaves out MODEL_RISK’s drivers only when they are its rows’ own, and keeps an explanation without rows', () => {
    const own = modelRisk();
    const worded = modelRisk();
    worded.evidence = { ...worded.evidence, drivers: 'worded otherwise' };
    worded.message = REASON_CODES.MODEL_RISK.explain(worded.evidence);
    const unexplained = modelRisk();
    unexplained.evidence = {
      probability: 0.9,
      threshold: 0.5,
      model: 'm-0',
      authority: 'advisory',
      basis: 'b',
      explanation: 'none',
      drivers: 'a, b',
    };
    unexplained.message = REASON_CODES.MODEL_RISK.explain(unexplained.evidence);
    expect(JSON.stringify(VERDICT_CODEC.pack(aVerdict([own])))).not.toContain(own.evidence.drivers as string);
    expect(JSON.stringify(VERDICT_CODEC.pack(aVerdict([worded])))).toContain('worded otherwise');
    for (const r of [own, worded, unexplained]) {
      const verdict = aVerdict([r]);
      expect(JSON.stringify(roundTrip(VERDICT_CODEC, verdict))).toBe(JSON.stringify(verdict));
    }
  });

  it('keeps a verdict with an unexpected key as it is', () => {
    const verdict = { ...aVerdict([]), extra: 1 } as unknown as ClickVerdict;
    expect(VERDICT_CODEC.pack(verdict)).toEqual([0, verdict]);
    expect(roundTrip(VERDICT_CODEC, verdict)).toEqual(verdict);
  });

  it('packs what the engine just scored (built) as it packs it after checking messages and drivers', () => {
    // The engine tells the codec an outcome is built from its rules' reasons: their messages are then
    // taken as the catalogue's and MODEL_RISK's drivers as its rows' own, unformatted. Checked here.
    const engine = new ScoringEngine(DEFAULT_RULESET);
    engine.useModels(ModelRuntime.fromFile('models/default/model.json'));
    const outcomes: (ClickVerdict | Decision)[] = [];
    for (let i = 0; i < 40; i++) {
      const click = aClick({ id: `c-${i}`, userAgent: i % 2 ? 'curl/8.4.0' : CHROME_UA, ip: `203.0.113.${i % 3}` });
      outcomes.push(engine.scoreClick(click, catalog, Date.parse(click.receivedAt)));
      const conversion = aConversion(click, { id: `v-${i}` });
      outcomes.push(engine.scoreConversion(conversion, catalog, null, Date.parse(conversion.receivedAt)));
    }
    const reasons = outcomes.flatMap((o) => o.reasons);
    expect(reasons.some((r) => r.code === 'MODEL_RISK' && Array.isArray(r.evidence.contributions))).toBe(true);
    expect(new Set(reasons.map((r) => r.code)).size).toBeGreaterThan(2);
    for (const o of outcomes) {
      const codec = o.kind === 'click' ? VERDICT_CODEC : DECISION_CODEC;
      expect(JSON.stringify((codec as typeof VERDICT_CODEC).pack(o as ClickVerdict, true))).toBe(
        JSON.stringify((codec as typeof VERDICT_CODEC).pack(o as ClickVerdict)),
      );
    }
  });
});
