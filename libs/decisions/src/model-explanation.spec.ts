import { publisherReason } from '@app/contracts';
import { CLICK_FEATURES, CONVERSION_FEATURES } from '@app/features';
import { ForestJson, ModelArtifact, ModelRuntime } from '@app/model';
import { DEFAULT_RULESET } from '@app/rules';
import { aCatalog, aClick, aConversion } from '@app/testing';
import { ScoringEngine } from './scoring-engine';

const catalog = aCatalog();

/** Three stumps on one feature: below 0.5 a legitimate leaf, above it a fraud leaf. */
function stumps(feature: number): ForestJson {
  return {
    name: 'RFClassifier',
    baseModel: {
      nEstimators: 3,
      isClassifier: true,
      indexes: [[feature], [feature], [feature]],
      estimators: [0, 1, 2].map(() => ({
        root: { splitColumn: 0, splitValue: 0.5, left: { distribution: [[1, 0]] }, right: { distribution: [[0, 1]] } },
      })),
    },
  };
}

/** Fires on every conversion whose click is known; with node statistics unless `explained` is false. */
function model(explained: boolean): ModelRuntime {
  const artifact: ModelArtifact = {
    format: 'arbiter-model/1',
    version: explained ? 'm-explained' : 'm-older',
    features: { click: [...CLICK_FEATURES], conversion: [...CONVERSION_FEATURES] },
    thresholds: { click: 1, conversion: 0.5 },
    click: null,
    conversion: stumps(CONVERSION_FEATURES.indexOf('click_known')),
    card: {
      trainedAt: '2026-11-01T00:00:00.000Z',
      trainingSeconds: 1,
      source: 'test',
      rows: { clicks: { fraud: 0, legit: 0 }, conversions: { fraud: 1, legit: 1 } },
      sampledPerForest: { clicks: 0, conversions: 2 },
      options: {},
      featureImportance: { click: {}, conversion: { click_known: 0.5, ctit_log_seconds: 0.3, rules_risk: 0.15, payout_share: 0.05 } },
    },
  };
  if (explained) {
    const typicalLegit = CONVERSION_FEATURES.map(() => 0);
    typicalLegit[CONVERSION_FEATURES.indexOf('click_known')] = 0.25;
    artifact.explanation = { click: null, conversion: { nodeFraudShare: [0.3, 0.1, 0.8, 0.3, 0.1, 0.8, 0.3, 0.1, 0.8], typicalLegit } };
  }
  return new ModelRuntime(artifact);
}

function decide(m: ModelRuntime) {
  const engine = new ScoringEngine(DEFAULT_RULESET);
  engine.useModels(m);
  const click = aClick({ ip: '8.8.4.4' });
  engine.scoreClick(click, catalog, Date.parse(click.receivedAt));
  const conversion = aConversion(click);
  const decision = engine.scoreConversion(conversion, catalog, null, Date.parse(conversion.receivedAt));
  return decision.reasons.find((r) => r.code === 'MODEL_RISK')!;
}

describe("MODEL_RISK's evidence: this event's own explanation", () => {
  it('lists the contributions along the event’s paths, its value and the typical legitimate one', () => {
    const sut = decide(model(true));
    // Each tree: root 0.3 → fraud leaf 1, so click_known adds 0.7 per tree; weights 1e-6 (first tree) and 1/3.
    const weight = 1e-6 + 2 / 3;
    expect(sut.evidence).toEqual({
      probability: 0.666668,
      threshold: 0.5,
      model: 'm-explained',
      authority: 'advisory',
      basis: "trained on other traffic, not this network's labels",
      explanation: 'per-event',
      bias: Math.round(0.3 * weight * 1e4) / 1e4,
      contributions: [{ feature: 'click_known', value: 1, typicalLegit: 0.25, contribution: Math.round(0.7 * weight * 1e4) / 1e4 }],
      drivers: 'click_known 1 (legitimate typically 0.25) +0.4667',
    });
    expect(sut.message).toContain("what raised this event's score most: click_known 1 (legitimate typically 0.25) +0.4667.");
  });

  it('says so when the model version carries no node statistics, and names its overall weightiest features', () => {
    const sut = decide(model(false));
    expect(sut.evidence).toMatchObject({ explanation: 'none', drivers: 'click_known, ctit_log_seconds, rules_risk' });
    expect(sut.evidence).not.toHaveProperty('contributions');
    expect(sut.message).toContain('this model version cannot explain single events (retrain it to get per-event explanations)');
  });

  it.each([true, false])('shows a publisher nothing of it (node statistics: %s)', (explained) => {
    const sut = publisherReason(decide(model(explained)));
    expect(sut).toEqual({ message: "The network's fraud model rates this traffic as likely fraudulent.", evidence: {} });
  });
});
