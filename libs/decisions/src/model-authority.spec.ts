import { CLICK_FEATURES, CONVERSION_FEATURES } from '@app/features';
import { ForestJson, ModelArtifact, ModelCard, ModelRuntime } from '@app/model';
import { DEFAULT_RULESET } from '@app/rules';
import { aCatalog, aClick, aConversion } from '@app/testing';
import { ScoringEngine } from './scoring-engine';

const catalog = aCatalog();

/** A forest of three one-leaf trees that all say "fraud": probability 0.67 on every event. */
const alwaysFraud: ForestJson = {
  name: 'RFClassifier',
  baseModel: {
    nEstimators: 3,
    isClassifier: true,
    indexes: [[0], [0], [0]],
    estimators: [0, 1, 2].map(() => ({ root: { distribution: [[0, 1]] } })),
  },
};

function model(card: Partial<ModelCard>): ModelRuntime {
  const artifact: ModelArtifact = {
    format: 'arbiter-model/1',
    version: 'm-test',
    features: { click: [...CLICK_FEATURES], conversion: [...CONVERSION_FEATURES] },
    thresholds: { click: 0.5, conversion: 0.5 },
    click: alwaysFraud,
    conversion: alwaysFraud,
    card: {
      trainedAt: '2026-11-01T00:00:00.000Z',
      trainingSeconds: 1,
      source: 'test',
      rows: { clicks: { fraud: 1, legit: 1 }, conversions: { fraud: 1, legit: 1 } },
      sampledPerForest: { clicks: 2, conversions: 2 },
      options: {},
      featureImportance: { click: {}, conversion: {} },
      ...card,
    },
  };
  return new ModelRuntime(artifact);
}

const figures = (precision: number, falsePositiveRate: number) => ({ rows: 1000, fraud: 100, legit: 900, precision, falsePositiveRate });

/** A clean click and its conversion, scored with `m` active. */
function score(m: ModelRuntime, engine = new ScoringEngine(DEFAULT_RULESET)) {
  engine.useModels(m);
  const click = aClick({ ip: '8.8.4.4' });
  const verdict = engine.scoreClick(click, catalog, Date.parse(click.receivedAt));
  const conversion = aConversion(click);
  const decision = engine.scoreConversion(conversion, catalog, null, Date.parse(conversion.receivedAt));
  return { verdict, decision };
}

describe('a model earns its power (DESIGN §5)', () => {
  it.each([
    ['trained on the simulator', { origin: 'simulator' as const, heldOut: { click: figures(1, 0), conversion: figures(1, 0) } }],
    ['whose card does not say whose labels trained it', { heldOut: { click: figures(1, 0), conversion: figures(1, 0) } }],
    ['trained on the operator’s labels without held-out figures', { origin: 'operator' as const }],
    [
      'below the precision floor',
      { origin: 'operator' as const, heldOut: { click: figures(0.9, 0.001), conversion: figures(0.9, 0.001) } },
    ],
    [
      'above the false-positive ceiling',
      { origin: 'operator' as const, heldOut: { click: figures(0.99, 0.02), conversion: figures(0.99, 0.02) } },
    ],
  ])('a model %s only flags a click for review and holds a conversion', (_, card) => {
    const { verdict, decision } = score(model(card));
    const flagged = verdict.reasons.find((r) => r.code === 'MODEL_RISK');
    expect(flagged?.evidence).toMatchObject({ authority: 'advisory', model: 'm-test' });
    expect(flagged?.message).toMatch(/advisory/);
    expect(verdict).toMatchObject({ valid: true, category: null });
    expect(decision.status).toBe('hold');
    expect(decision.reasons.map((r) => r.code)).toEqual(['MODEL_RISK']);
  });

  it('a model trained on the operator’s labels that meets the floors decides: it invalidates and rejects', () => {
    const { verdict, decision } = score(
      model({ origin: 'operator', heldOut: { click: figures(0.995, 0.001), conversion: figures(0.99, 0.004) } }),
    );
    expect(verdict.reasons.find((r) => r.code === 'MODEL_RISK')?.evidence).toMatchObject({ authority: 'deciding' });
    expect(verdict.valid).toBe(false);
    expect(decision.status).toBe('rejected');
  });

  it('decides per side, and the floors are the operator’s', () => {
    const m = model({ origin: 'operator', heldOut: { click: figures(0.99, 0.02), conversion: figures(0.99, 0.001) } });
    const strict = score(m);
    expect(strict.verdict.valid).toBe(true);
    expect(strict.decision.status).toBe('rejected');
    const lenient = score(m, new ScoringEngine(DEFAULT_RULESET, { modelFloors: { minPrecision: 0.95, maxFalsePositiveRate: 0.05 } }));
    expect(lenient.verdict.valid).toBe(false);
  });

  it('a forest kept from a simulator-trained model stays advisory inside an operator-trained one', () => {
    const m = model({
      origin: 'operator',
      heldOut: { click: figures(0.995, 0.001), conversion: figures(0.995, 0.001) },
      forests: { click: { source: 'kept', from: 'sim-default', origin: 'simulator' }, conversion: { source: 'trained' } },
    });
    const { verdict, decision } = score(m);
    expect(verdict.valid).toBe(true);
    expect(decision.status).toBe('rejected');
  });
});
