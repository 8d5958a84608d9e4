import { RandomForestClassifier } from 'ml-random-forest';
import { CompiledForest, ForestJson } from './compiled-forest';

/** Deterministic pseudo-random numbers for the test data (no Math.random: reproducible failures). */
function lcg(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function dataset(rows: number, columns: number, seed: number) {
  const r = lcg(seed);
  const X: number[][] = [];
  const y: number[] = [];
  for (let i = 0; i < rows; i++) {
    const x = Array.from({ length: columns }, () => r() * 10 - 5);
    // A non-linear boundary with noise, so trees grow deep and votes split.
    const score = Math.sin(x[0]) + x[1] * x[2] * 0.2 - Math.abs(x[3]) * 0.3 + (r() - 0.5);
    X.push(x);
    y.push(score > 0 ? 1 : 0);
  }
  return { X, y };
}

describe('CompiledForest', () => {
  it.each([
    { trees: 25, maxFeatures: 0.6, maxDepth: 8, seed: 1 },
    { trees: 7, maxFeatures: 1.0, maxDepth: 20, seed: 2 },
    { trees: 40, maxFeatures: 0.4, maxDepth: 5, seed: 3 },
  ])('gives exactly the probabilities of ml-random-forest on random vectors (%j)', ({ trees, maxFeatures, maxDepth, seed }) => {
    const train = dataset(400, 8, seed);
    const forest = new RandomForestClassifier({ nEstimators: trees, maxFeatures, seed, treeOptions: { maxDepth }, noOOB: true });
    forest.train(train.X, train.y);
    const json = JSON.parse(JSON.stringify(forest.toJSON())) as ForestJson;
    const sut = CompiledForest.fromJSON(json);
    const reference = RandomForestClassifier.load(json as unknown as Parameters<typeof RandomForestClassifier.load>[0]);
    const probe = dataset(5000, 8, seed + 100).X;
    // Include edge values: exact split thresholds and NaN.
    probe.push(new Array(8).fill(0), new Array(8).fill(Number.NaN));
    const expected = reference.predictProbability(probe, 1);
    const x = new Float64Array(8);
    const actual = probe.map((row) => {
      x.set(row);
      return sut.probability(x);
    });
    expect(actual).toEqual(expected);
    expect(new Set(actual).size).toBeGreaterThan(2); // the forest really disagrees with itself
  });

  it('refuses what is not a random-forest classifier', () => {
    expect(() => CompiledForest.fromJSON({ name: 'RFRegression' } as unknown as ForestJson)).toThrow(/classifier/);
  });
});
