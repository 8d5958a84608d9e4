import { ScoringEngine } from '@app/decisions';
import { CLICK_FEATURES, CONVERSION_FEATURES, OFFLINE_DISTINCT_SECRET } from '@app/features';
import { ForestJson, ModelArtifact, ModelRuntime } from '@app/model';
import { DEFAULT_RULESET, RuleSetResolver } from '@app/rules';
import type { HistoricalEvent } from '@app/storage';
import { aCatalog, aClick, at, sketchCollisions } from '@app/testing';
import { Backtester, ResolvingCatalog } from './backtester';

/** A deployment's secret (what `DeploymentSecretRepository` holds), not the public offline one. */
const DEPLOYMENT_SECRET = '5d1e0f77a3c2b941';
const N = 200;
/** Device ids that the public offline key counts as about one (`sketchCollisions`). */
const DEVICES = sketchCollisions(OFFLINE_DISTINCT_SECRET, 'dev-', N);

/** Three trees that say fraud once an IP has shown more than 50 devices, legitimate below. */
function manyDevicesModel(): ModelRuntime {
  const column = CLICK_FEATURES.indexOf('ip_distinct_devices_so_far');
  const tree = {
    root: { splitColumn: 0, splitValue: Math.log1p(50), left: { distribution: [[1, 0]] }, right: { distribution: [[0, 1]] } },
  };
  const legit = { root: { distribution: [[1, 0]] } };
  const forest = (root: object, indexes: number[]): ForestJson => ({
    name: 'RFClassifier',
    baseModel: {
      nEstimators: 3,
      isClassifier: true,
      indexes: [indexes, indexes, indexes],
      estimators: [root, root, root] as ForestJson['baseModel']['estimators'],
    },
  });
  const figures = { rows: 1000, fraud: 100, legit: 900, precision: 0.999, falsePositiveRate: 0.0001 };
  const artifact: ModelArtifact = {
    format: 'arbiter-model/1',
    version: 'm-devices',
    features: { click: [...CLICK_FEATURES], conversion: [...CONVERSION_FEATURES] },
    thresholds: { click: 0.5, conversion: 0.5 },
    click: forest(tree, [column]),
    conversion: forest(legit, [0]),
    card: {
      trainedAt: '2026-11-01T00:00:00.000Z',
      trainingSeconds: 1,
      source: 'test',
      rows: { clicks: { fraud: 1, legit: 1 }, conversions: { fraud: 1, legit: 1 } },
      sampledPerForest: { clicks: 2, conversions: 2 },
      options: {},
      featureImportance: { click: {}, conversion: {} },
      origin: 'operator',
      heldOut: { click: figures, conversion: figures },
    },
  };
  return new ModelRuntime(artifact);
}

describe('Backtester: counts with the deployment secret it is given', () => {
  const model = manyDevicesModel();
  const catalog: ResolvingCatalog = Object.assign(aCatalog(), { resolve: async () => undefined });
  const rules = RuleSetResolver.fixed(DEFAULT_RULESET);

  /** One IP rotating the colliding device ids, scored by the live scorer (deciding model, deployment secret). */
  function liveHistory(): HistoricalEvent[] {
    const live = new ScoringEngine(rules, { features: { distinctSecret: DEPLOYMENT_SECRET } });
    live.useModels(model, null);
    return DEVICES.map((deviceId, i) => {
      const event = aClick({ ts: at(60_000 + i * 300_000), ip: '8.8.4.4', deviceId });
      const verdict = live.scoreClick(event, catalog, Date.parse(event.receivedAt));
      return { event, label: null, recorded: verdict.valid ? 'valid' : 'invalid' };
    });
  }

  async function backtest(history: HistoricalEvent[], secret: string) {
    const sut = new Backtester(
      {
        count: async () => history.length,
        stream: async function* () {
          yield history;
        },
      },
      { findClicks: async () => new Map() },
      catalog,
      secret,
    );
    return sut.run({
      from: new Date(at(0)),
      to: new Date(at(10 * 86_400_000)),
      warmupFrom: new Date(at(0)),
      active: rules,
      candidate: rules,
      model,
    });
  }

  it('reproduces the live verdicts on ids that collide under the public key', async () => {
    const history = liveHistory();
    const invalidLive = history.filter((h) => h.recorded === 'invalid').length;
    // The live scorer sees the device farm: past 50 devices, the model invalidates every click.
    expect(invalidLive).toBeGreaterThan(N / 2);

    const same = await backtest(history, DEPLOYMENT_SECRET);
    expect(same.clicks.active.invalid).toBe(invalidLive);
    expect(same.recorded).toEqual({ compared: N, activeSame: N, candidateSame: N });

    // With the public key (what a forgotten secret would count with), the farm reads as one device.
    const offline = await backtest(history, OFFLINE_DISTINCT_SECRET);
    expect(offline.clicks.active.invalid).toBe(0);
    expect(offline.recorded.activeSame).toBe(N - invalidLive);
  });
});
