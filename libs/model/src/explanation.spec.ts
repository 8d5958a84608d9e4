import { RandomForestClassifier } from 'ml-random-forest';
import { CLICK_FEATURES, CONVERSION_FEATURES } from '@app/features';
import { CompiledForest } from './compiled-forest';
import { ModelArtifact, ModelError, ModelRuntime, largestBySize } from './model-artifact';
import { trainForest, typicalValues } from './trainer';

const width = CLICK_FEATURES.length;
const at = (name: (typeof CLICK_FEATURES)[number]) => CLICK_FEATURES.indexOf(name);
const BURST = at('ip_clicks_1m');
const DATACENTER = at('ip_datacenter');

/**
 * Click-shaped rows with two kinds of fraud that share nothing: bursts from one IP (ip_clicks_1m
 * high) and data-centre traffic (ip_datacenter = 1). Legitimate rows have neither.
 */
function clicks(n: number, seed: number) {
  let s = seed >>> 0;
  const r = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const rows: Float64Array[] = [];
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = Float64Array.from({ length: width }, () => r());
    x[BURST] = r() * 1.2; // log1p of a handful of clicks a minute
    x[DATACENTER] = 0;
    const kind = r();
    if (kind < 0.12) x[BURST] = 2.5 + r() * 2;
    else if (kind < 0.24) x[DATACENTER] = 1;
    rows.push(x);
    labels.push(kind < 0.24 ? 1 : 0);
  }
  return { rows, labels };
}

const data = clicks(2400, 11);
const trained = trainForest(data.rows, data.labels, {
  trees: 12,
  bags: 3,
  rowsPerBag: 400,
  negativesPerPositive: 2,
  maxDepth: 6,
  minNumSamples: 3,
  // Every tree may use every feature, so each can see both kinds of fraud.
  maxFeatures: 1,
  seed: 5,
});

function artifact(withExplanation: boolean): ModelArtifact {
  return {
    format: 'arbiter-model/1',
    version: withExplanation ? 'm-explained' : 'm-before-explanations',
    features: { click: [...CLICK_FEATURES], conversion: [...CONVERSION_FEATURES] },
    thresholds: { click: 0.5, conversion: 0.5 },
    click: trained.json,
    conversion: null,
    card: {
      trainedAt: '2026-12-01T00:00:00.000Z',
      trainingSeconds: 1,
      source: 'test',
      rows: { clicks: { fraud: 1, legit: 1 }, conversions: { fraud: 0, legit: 0 } },
      sampledPerForest: { clicks: 400, conversions: 0 },
      options: {},
      featureImportance: { click: {}, conversion: {} },
    },
    ...(withExplanation ? { explanation: { click: trained.explanation, conversion: null } } : {}),
  };
}

const probe = clicks(600, 99).rows;

describe('per-event explanation (path contributions)', () => {
  const sut = new ModelRuntime(artifact(true));

  it('stores one fraud share per compiled node, each a share', () => {
    const forest = CompiledForest.fromJSON(trained.json);
    expect(trained.explanation.nodeFraudShare).toHaveLength(forest.nodes);
    expect(trained.explanation.nodeFraudShare.every((v) => v >= 0 && v <= 1)).toBe(true);
    // A root sees its whole bag: fraud is a third of it (two legitimate rows per fraud row).
    expect(trained.explanation.nodeFraudShare[0]).toBeCloseTo(1 / 3, 2);
  });

  it('adds up: bias + contributions = the probability the model served, on every event', () => {
    const forest = sut.click!;
    let fired = 0;
    for (const x of probe) {
      const p = forest.probability(x);
      const e = forest.explain(x, width)!;
      const sum = e.bias + e.contributions.reduce((a, b) => a + b, 0);
      // The probability is rounded to millionths; the explanation is not.
      expect(Math.abs(sum - p)).toBeLessThanOrEqual(1e-6);
      if (p >= 0.5) fired++;
    }
    expect(fired).toBeGreaterThan(50);
    expect(fired).toBeLessThan(probe.length - 50);
  });

  it('names what drove this event, not the model in general: a burst and a data-centre click differ', () => {
    const burst = Float64Array.from(probe[0]);
    burst[BURST] = 3.5;
    burst[DATACENTER] = 0;
    const datacenter = Float64Array.from(probe[0]);
    datacenter[BURST] = 0.3;
    datacenter[DATACENTER] = 1;
    expect(sut.click!.probability(burst)).toBeGreaterThan(0.5);
    expect(sut.click!.probability(datacenter)).toBeGreaterThan(0.5);

    const a = sut.explain('click', burst)!;
    const b = sut.explain('click', datacenter)!;
    expect(a.contributions[0]).toMatchObject({ feature: 'ip_clicks_1m', value: 3.5 });
    expect(a.contributions[0].contribution).toBeGreaterThan(0.2);
    expect(b.contributions[0]).toMatchObject({ feature: 'ip_datacenter', value: 1, typicalLegit: 0 });
    expect(b.contributions[0].contribution).toBeGreaterThan(0.2);
    // Legitimate traffic's typical burst value: the median of the legitimate rows, well below the burst.
    expect(a.contributions[0].typicalLegit).toBeCloseTo(
      typicalValues(
        data.rows,
        data.labels.flatMap((l, i) => (l ? [] : [i])),
      )[BURST]!,
      12,
    );
    expect(a.contributions[0].typicalLegit!).toBeLessThan(1.2);
    expect(a.contributions.length).toBeLessThanOrEqual(5);
  });

  it('leaves prediction bit-identical: with or without node statistics, and as ml-random-forest', () => {
    const plain = CompiledForest.fromJSON(trained.json);
    const library = RandomForestClassifier.load(trained.json as unknown as Parameters<typeof RandomForestClassifier.load>[0]);
    const expected = library.predictProbability(
      probe.map((x) => Array.from(x)),
      1,
    );
    expect(probe.map((x) => sut.click!.probability(x))).toEqual(expected);
    expect(probe.map((x) => plain.probability(x))).toEqual(expected);
  });

  it('loads a model trained before explanations: it scores the same and says it cannot explain', () => {
    const older = new ModelRuntime(artifact(false));
    expect(older.click!.explainable).toBe(false);
    expect(older.explain('click', probe[0])).toBeNull();
    expect(probe.map((x) => older.click!.probability(x))).toEqual(probe.map((x) => sut.click!.probability(x)));
  });

  it('refuses node statistics that do not fit the forest', () => {
    const broken = artifact(true);
    broken.explanation = {
      click: { ...trained.explanation, nodeFraudShare: trained.explanation.nodeFraudShare.slice(1) },
      conversion: null,
    };
    expect(() => new ModelRuntime(broken)).toThrow(ModelError);
    expect(() => new ModelRuntime(broken)).toThrow(/node statistics/);
  });

  it('takes the median of known values as typical (unknown stays unknown)', () => {
    const rows = [
      [1, NaN],
      [3, NaN],
      [2, NaN],
      [10, NaN],
    ].map((r) => Float64Array.from(r));
    expect(typicalValues(rows, [0, 1, 2])).toEqual([2, null]);
    expect(typicalValues(rows, [0, 1, 2, 3])).toEqual([2.5, null]);
  });
});

describe('the largest contributions by size', () => {
  /** The selection it replaced: one pass over every value per pick. */
  function byPasses(c: number[], top: number): number[] {
    const picked: number[] = [];
    let bound = Infinity;
    let boundAt = -1;
    for (let k = 0; k < top; k++) {
      let best = -1;
      for (let f = 0; f < c.length; f++) {
        const size = Math.abs(c[f]);
        if (size === 0 || size > bound || (size === bound && f <= boundAt)) continue;
        if (best < 0 || size > Math.abs(c[best])) best = f;
      }
      if (best < 0) break;
      bound = Math.abs(c[best]);
      boundAt = best;
      picked.push(best);
    }
    return picked;
  }

  it('picks what the passes picked, in the same order: ties to the earlier feature, zeros left out', () => {
    let seed = 7;
    const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    const into = new Int32Array(43);
    for (let round = 0; round < 5_000; round++) {
      const n = 1 + Math.floor(random() * 43);
      // Few distinct sizes, both signs and zeros: ties everywhere.
      const c = Array.from({ length: n }, () => (random() < 0.3 ? 0 : (random() < 0.5 ? -1 : 1) * Math.floor(random() * 6) * 0.01));
      const top = Math.floor(random() * 8);
      const got = largestBySize(c, top, into);
      expect(Array.from(into.subarray(0, got))).toEqual(byPasses(c, top));
    }
    expect(largestBySize([0.2, -0.3, 0.1], 5, new Int32Array(2))).toBe(2);
  });
});
