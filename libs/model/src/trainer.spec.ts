import { RandomForestClassifier } from 'ml-random-forest';
import { CompiledForest } from './compiled-forest';
import { chooseThreshold } from './thresholds';
import { trainForest } from './trainer';

describe('trainForest', () => {
  // Fraud (1) when the first two features are both high; 10 % of rows are fraud.
  const rows: Float64Array[] = [];
  const labels: number[] = [];
  let s = 7;
  const r = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  for (let i = 0; i < 3000; i++) {
    const x = Float64Array.from([r(), r(), r(), r()]);
    const fraud = r() < 0.1;
    if (fraud) {
      x[0] = 0.7 + x[0] * 0.3;
      x[1] = 0.7 + x[1] * 0.3;
    }
    rows.push(x);
    labels.push(fraud ? 1 : 0);
  }
  const sut = trainForest(rows, labels, {
    trees: 12,
    bags: 3,
    rowsPerBag: 300,
    negativesPerPositive: 2,
    maxDepth: 6,
    minNumSamples: 3,
    maxFeatures: 0.75,
    seed: 3,
  });

  it('merges its bags into one model that ml-random-forest loads and predicts identically', () => {
    expect(sut.json.baseModel.nEstimators).toBe(12);
    const library = RandomForestClassifier.load(sut.json as unknown as Parameters<typeof RandomForestClassifier.load>[0]);
    const compiled = CompiledForest.fromJSON(sut.json);
    const probe = rows.slice(0, 500);
    expect(probe.map((x) => compiled.probability(x))).toEqual(
      library.predictProbability(
        probe.map((x) => Array.from(x)),
        1,
      ),
    );
  });

  it('learns the signal and says which features carry it', () => {
    const compiled = CompiledForest.fromJSON(sut.json);
    const fraudMean =
      rows.filter((_, i) => labels[i] === 1).reduce((a, x) => a + compiled.probability(x), 0) / labels.filter((l) => l).length;
    const legitMean =
      rows.filter((_, i) => labels[i] === 0).reduce((a, x) => a + compiled.probability(x), 0) / labels.filter((l) => !l).length;
    expect(fraudMean).toBeGreaterThan(0.6);
    expect(legitMean).toBeLessThan(0.2);
    expect(sut.importance.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    expect(sut.importance[0] + sut.importance[1]).toBeGreaterThan(0.8);
    expect(sut.sampledRows).toBeLessThanOrEqual(300);
  });

  it('refuses data without both classes', () => {
    expect(() =>
      trainForest(rows.slice(0, 10), new Array(10).fill(0), {
        ...{ trees: 2, bags: 1, rowsPerBag: 10, negativesPerPositive: 1, maxDepth: 2, minNumSamples: 2, maxFeatures: 1, seed: 1 },
      }),
    ).toThrow(/both/);
  });
});

describe('chooseThreshold', () => {
  it('takes the lowest threshold that keeps the required precision with the rules', () => {
    const rows = [
      { probability: 0.95, rulesReject: false, fraud: true },
      { probability: 0.9, rulesReject: false, fraud: true },
      { probability: 0.8, rulesReject: false, fraud: true },
      { probability: 0.6, rulesReject: false, fraud: false },
      { probability: 0.5, rulesReject: false, fraud: true },
      { probability: 0.1, rulesReject: true, fraud: true },
      { probability: 0.05, rulesReject: false, fraud: false },
    ];
    expect(chooseThreshold(rows, 1)).toBe(0.8);
    expect(chooseThreshold(rows, 0.8)).toBe(0.1);
    expect(chooseThreshold(rows, 0.8, 0.55)).toBe(0.6);
  });

  it('returns 1 (model never rejects alone) when no threshold is precise enough', () => {
    expect(chooseThreshold([{ probability: 0.9, rulesReject: false, fraud: false }], 0.98)).toBe(1);
  });
});
