import { readFileSync } from 'node:fs';
import { REASON_CODES, encodeOutcomeItem, modelRiskDrivers } from '@app/contracts';
import type { ClickEvent, ClickVerdict, ConversionEvent, Decision, EvidenceRow, ReasonCode } from '@app/contracts';
import { FileCatalog, storedEvents } from '@app/evaluation';
import { ModelArtifact, ModelRuntime } from '@app/model';
import { DEFAULT_RULESET, EMPTY_RULESET_CONFIG, RuleSetResolver, validateConfig } from '@app/rules';
import { Simulator, catalogLine } from '@app/simulator';
import { DECISION_CODEC, VERDICT_CODEC } from './outcome-codec';
import { ScoringEngine } from './scoring-engine';
import { ShadowRules } from './shadow-rules';

/**
 * The engine tells the outcome codec that an outcome it just scored is `built` from its rules'
 * reasons: the codec then stores no message (nor MODEL_RISK's drivers) and a redelivery rebuilds
 * them from the evidence. That holds only while every such reason's message is the catalogue's for
 * its evidence and MODEL_RISK's drivers are its rows' own. Checked here on every outcome the engine
 * packs as built, across rule modes, MODEL_RISK thresholds, model authorities and shadows, so a
 * reason added or changed outside `runRules` fails here instead of answering a redelivery with
 * something other than what was published.
 */
describe('every outcome the engine packs as built', () => {
  const sim = new Simulator({ seed: 29, events: 4_000, hours: 4, start: new Date('2026-11-01T00:00:00Z'), partitions: 1 });
  const catalog = new FileCatalog();
  catalog.load(catalogLine(sim.catalog));
  const events: (ClickEvent | ConversionEvent)[] = [...storedEvents(sim)];
  const artifact = JSON.parse(readFileSync('models/default/model.json', 'utf8')) as ModelArtifact;
  const codes = Object.keys(DEFAULT_RULESET.rules) as ReasonCode[];

  /** Every rule (MODEL_RISK included) in `mode`, MODEL_RISK firing at `threshold` when given. */
  function resolver(mode: 'enforce' | 'monitor', threshold?: number): RuleSetResolver {
    const rules = Object.fromEntries(codes.map((c) => [c, c === 'MODEL_RISK' && threshold !== undefined ? { mode, threshold } : { mode }]));
    return new RuleSetResolver(validateConfig({ ...EMPTY_RULESET_CONFIG, version: 1, network: { rules } }));
  }

  /** Scores every event, checking each outcome handed to the codec as built; the reason codes seen. */
  function run(engine: ScoringEngine): Set<string> {
    const seen = new Set<string>();
    // What the engine tells the scorer it scored just now (`scoreClick`'s `scoredNow`).
    const scoredNow = new Set<ClickVerdict>();
    let built = 0;
    const check = (o: ClickVerdict | Decision, isBuilt?: boolean) => {
      if (!isBuilt) return;
      built++;
      // The scorer stores (`storedReasons`) the reasons of the verdicts the engine says it scored now as built too.
      if (o.kind === 'click') expect(scoredNow.has(o)).toBe(true);
      for (const r of o.reasons) {
        seen.add(r.monitorOnly ? `${r.code} (monitor)` : r.code);
        expect({ code: r.code, message: REASON_CODES[r.code].explain(r.evidence) }).toEqual({ code: r.code, message: r.message });
        if (r.code === 'MODEL_RISK' && Array.isArray(r.evidence.contributions)) {
          seen.add('MODEL_RISK (explained)');
          expect(r.evidence.drivers).toBe(modelRiskDrivers(r.evidence.contributions as EvidenceRow[]));
        }
      }
    };
    // One object serves both kinds (the tag tells them apart): spying on its `pack` sees every outcome remembered.
    expect(VERDICT_CODEC).toBe(DECISION_CODEC);
    const pack = VERDICT_CODEC.pack.bind(VERDICT_CODEC);
    const spy = jest.spyOn(VERDICT_CODEC, 'pack').mockImplementation((o, isBuilt) => {
      check(o, isBuilt);
      const packed = pack(o, isBuilt);
      // What a redelivery is answered with (decoded from the map's JSON of it) is published as the same bytes.
      expect(encodeOutcomeItem(VERDICT_CODEC.unpack(JSON.parse(JSON.stringify(packed))))).toBe(encodeOutcomeItem(o));
      return packed;
    });
    try {
      for (const e of events) {
        const t = Date.parse(e.receivedAt);
        if (e.kind === 'click') engine.scoreClick(e, catalog, t, scoredNow);
        else engine.scoreConversion(e, catalog, null, t);
      }
    } finally {
      spy.mockRestore();
    }
    // Verdicts and decisions alike: the engine remembers every outcome packed (a verdict's item is encoded when published).
    expect(built).toBe(events.length);
    return seen;
  }

  it('tells the scorer of the verdicts it scored just now, never of a remembered copy (a redelivery)', () => {
    const engine = new ScoringEngine(new RuleSetResolver(EMPTY_RULESET_CONFIG));
    const clicks = events.filter((e): e is ClickEvent => e.kind === 'click').slice(0, 3);
    const scoredNow = new Set<ClickVerdict>();
    const first = clicks.map((c) => engine.scoreClick(c, catalog, Date.parse(c.receivedAt), scoredNow));
    expect(first.map((v) => scoredNow.has(v))).toEqual([true, true, true]);
    // Redelivered: answered from memory, a decoded copy whose reasons the scorer must check.
    const again = new Set<ClickVerdict>();
    const copies = clicks.map((c) => engine.scoreClick(c, catalog, Date.parse(c.receivedAt), again));
    expect(copies).toEqual(first);
    expect(again.size).toBe(0);
    expect(copies.some((v) => scoredNow.has(v))).toBe(false);
  });

  it('with the default rule set and model', () => {
    const engine = new ScoringEngine(new RuleSetResolver(EMPTY_RULESET_CONFIG));
    engine.useModels(ModelRuntime.fromFile('models/default/model.json'));
    const seen = run(engine);
    expect(seen.has('MODEL_RISK (explained)')).toBe(true);
    expect(seen.size).toBeGreaterThan(5);
  });

  it('with every rule monitor-only, MODEL_RISK firing on every event, a shadow model and shadow rules', () => {
    const engine = new ScoringEngine(resolver('monitor', 0));
    engine.useModels(new ModelRuntime(artifact), new ModelRuntime({ ...artifact, version: `${artifact.version}-shadow` }));
    engine.useShadowRules(new ShadowRules(resolver('enforce', 0), 'shadow'));
    const seen = run(engine);
    expect(seen.has('MODEL_RISK (monitor)')).toBe(true);
    expect([...seen].every((c) => c.endsWith('(monitor)') || c === 'MODEL_RISK (explained)')).toBe(true);
  });

  it('with a deciding model (operator labels, floors met) and one without per-event explanations', () => {
    const operator: ModelArtifact = { ...artifact, version: 'operator', card: { ...artifact.card, origin: 'operator' } };
    const deciding = new ScoringEngine(resolver('enforce', 0.01), { modelFloors: { minPrecision: 0, maxFalsePositiveRate: 1 } });
    deciding.useModels(new ModelRuntime(operator));
    expect(run(deciding).has('MODEL_RISK (explained)')).toBe(true);

    const { explanation: _none, ...unexplained } = artifact;
    const engine = new ScoringEngine(resolver('enforce', 0));
    engine.useModels(new ModelRuntime({ ...unexplained, version: 'unexplained' }), new ModelRuntime(artifact));
    const seen = run(engine);
    expect(seen.has('MODEL_RISK')).toBe(true);
    expect(seen.has('MODEL_RISK (explained)')).toBe(false);
  });
});
