import { RandomForestClassifier } from 'ml-random-forest';
import { CLICK_FEATURES } from '@app/features';
import { ModelRuntime } from '@app/model';
import { median } from './percentiles';

export interface ModelBenchResult {
  model: string;
  trees: number;
  nodes: number;
  /** Compiled evaluator, one core: median of the rounds. */
  predictionsPerSecond: number;
  /** ml-random-forest's own predictProbability on the same vectors (the baseline). */
  libraryPredictionsPerSecond: number;
  ratioToLibrary: number;
  /** Vectors on which both gave the same probability, out of those compared. */
  identical: number;
  compared: number;
}

/**
 * Inference speed of the compiled click forest against ml-random-forest on the same random
 * vectors, and a check that every probability is identical.
 */
export function modelScenario(path: string, options: { vectors?: number; rounds?: number } = {}): ModelBenchResult {
  const runtime = ModelRuntime.fromFile(path);
  const forest = runtime.click!;
  const n = options.vectors ?? 200_000;
  const width = CLICK_FEATURES.length;
  // Vectors near the training range: logs of counts, flags, shares.
  let s = 12345;
  const rand = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const flat = new Float64Array(n * width);
  for (let i = 0; i < flat.length; i++) flat[i] = rand() < 0.3 ? Math.round(rand()) : rand() * 6 - 1;
  const x = new Float64Array(width);
  const rates: number[] = [];
  let sink = 0;
  for (let r = 0; r < (options.rounds ?? 5); r++) {
    const started = performance.now();
    for (let i = 0; i < n; i++) {
      x.set(flat.subarray(i * width, (i + 1) * width));
      sink += forest.probability(x);
    }
    rates.push(n / ((performance.now() - started) / 1000));
  }
  const library = RandomForestClassifier.load(runtime.artifact.click as unknown as Parameters<typeof RandomForestClassifier.load>[0]);
  const compared = Math.min(n, 20_000);
  const rows = Array.from({ length: compared }, (_, i) => Array.from(flat.subarray(i * width, (i + 1) * width)));
  const started = performance.now();
  const expected = library.predictProbability(rows, 1);
  const libraryRate = compared / ((performance.now() - started) / 1000);
  let identical = 0;
  rows.forEach((row, i) => {
    x.set(row);
    if (forest.probability(x) === expected[i]) identical++;
  });
  if (sink < 0) throw new Error('unreachable');
  const predictionsPerSecond = Math.round(median(rates));
  return {
    model: runtime.version,
    trees: forest.trees,
    nodes: forest.nodes,
    predictionsPerSecond,
    libraryPredictionsPerSecond: Math.round(libraryRate),
    ratioToLibrary: Math.round((predictionsPerSecond / libraryRate) * 10) / 10,
    identical,
    compared,
  };
}
