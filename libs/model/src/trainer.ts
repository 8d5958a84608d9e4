import { RandomForestClassifier } from 'ml-random-forest';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { CompiledForest, ForestJson, TreeNodeJson } from './compiled-forest';
import type { ForestExplanation } from './model-artifact';

export interface ForestOptions {
  /** Trees in the final model. */
  trees: number;
  /** Forests (bags) the trees are spread over; each sees its own sample of the data. */
  bags: number;
  /** Rows each bag trains on: ml-cart's split search is quadratic in rows, so this bounds time. */
  rowsPerBag: number;
  /** Legitimate rows sampled per fraud row (fraud is the minority: it is kept whole when it fits). */
  negativesPerPositive: number;
  maxDepth: number;
  minNumSamples: number;
  /** Share of the features each tree may use. */
  maxFeatures: number;
  seed: number;
}

export const DEFAULT_FOREST_OPTIONS: ForestOptions = {
  trees: 48,
  bags: 8,
  rowsPerBag: 1200,
  negativesPerPositive: 2,
  maxDepth: 12,
  minNumSamples: 5,
  maxFeatures: 0.6,
  seed: 42,
};

export interface TrainedForest {
  json: ForestJson;
  /** Mean decrease in impurity per feature (sums to 1). */
  importance: number[];
  sampledRows: number;
  /** What the scorer needs to explain one event: node statistics and legitimate traffic's typical values. */
  explanation: ForestExplanation;
}

/**
 * Trains `trees` trees of ml-random-forest over `bags` balanced samples (all fraud up to the bag's
 * share, then legitimate rows at `negativesPerPositive` to one) and merges them into one
 * `RFClassifier` model: still a model the library loads and predicts with. Downsampling the
 * majority class makes the forest's probabilities rank well but run high; MODEL_RISK thresholds are
 * therefore chosen on held-out data, not assumed.
 */
export function trainForest(
  rows: readonly Float64Array[],
  labels: readonly number[],
  options: ForestOptions,
  onBag?: (done: number) => void,
): TrainedForest {
  const rng = xoroshiro128plus(options.seed);
  const next = () => uniformFloat64(rng);
  const positives = labels.flatMap((l, i) => (l === 1 ? [i] : []));
  const negatives = labels.flatMap((l, i) => (l === 1 ? [] : [i]));
  if (!positives.length || !negatives.length) throw new Error('training needs both fraud and legitimate examples');
  const perBag = Math.max(1, Math.round(options.trees / options.bags));
  const estimators: ForestJson['baseModel']['estimators'] = [];
  const indexes: number[][] = [];
  let base: ForestJson['baseModel'] | undefined;
  let sampledRows = 0;
  const rowsOfTree: number[][] = [];
  for (let b = 0; b < options.bags; b++) {
    const wantPositives = Math.min(positives.length, Math.floor(options.rowsPerBag / (1 + options.negativesPerPositive)));
    const wantNegatives = Math.min(negatives.length, options.rowsPerBag - wantPositives);
    const picked = [...sample(next, positives, wantPositives), ...sample(next, negatives, wantNegatives)];
    const forest = new RandomForestClassifier({
      nEstimators: perBag,
      maxFeatures: options.maxFeatures,
      replacement: false,
      seed: options.seed + b,
      useSampleBagging: true,
      noOOB: true,
      treeOptions: { maxDepth: options.maxDepth, minNumSamples: options.minNumSamples },
    });
    forest.train(
      picked.map((i) => Array.from(rows[i])),
      picked.map((i) => labels[i]),
    );
    const json = JSON.parse(JSON.stringify(forest.toJSON())) as ForestJson;
    base ??= json.baseModel;
    estimators.push(...json.baseModel.estimators);
    indexes.push(...json.baseModel.indexes);
    for (let t = 0; t < json.baseModel.estimators.length; t++) rowsOfTree.push(picked);
    sampledRows = picked.length;
    onBag?.(b + 1);
  }
  const json: ForestJson = { name: 'RFClassifier', baseModel: { ...base!, nEstimators: estimators.length, estimators, indexes } };
  // Each tree's node shares come from the rows of its own bag: the sample it was grown on.
  const shares = CompiledForest.fromJSON(json).fraudShares(rows, labels, rowsOfTree);
  return {
    json,
    importance: featureImportance(json, rows[0].length),
    sampledRows,
    explanation: {
      nodeFraudShare: Array.from(shares, (v) => Math.round(v * 1e6) / 1e6),
      typicalLegit: typicalValues(rows, negatives),
    },
  };
}

/** Per feature, the median over these rows of its known (non-NaN) values; null when none is known. */
export function typicalValues(rows: readonly Float64Array[], which: readonly number[]): (number | null)[] {
  const width = rows[0]?.length ?? 0;
  const column = new Float64Array(which.length);
  return Array.from({ length: width }, (_, f) => {
    let known = 0;
    for (const i of which) if (!Number.isNaN(rows[i][f])) column[known++] = rows[i][f];
    if (!known) return null;
    const sorted = column.subarray(0, known).sort();
    const mid = known >> 1;
    return known % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  });
}

/** Mean decrease in impurity, as ml-random-forest's `featureImportance()` computes it on a trained forest. */
export function featureImportance(json: ForestJson, features: number): number[] {
  const total = new Array<number>(features).fill(0);
  json.baseModel.estimators.forEach((tree, t) => {
    const local = new Array<number>(json.baseModel.indexes[t].length).fill(0);
    const walk = (node: TreeNodeJson | undefined) => {
      if (!node || node.splitColumn === undefined || !(node.gain! > 0)) return;
      let f = node.gain! * (node.numberSamples ?? 0);
      if (node.left) f -= (node.left.gain ?? 0) * (node.left.numberSamples ?? 0);
      if (node.right) f -= (node.right.gain ?? 0) * (node.right.numberSamples ?? 0);
      local[node.splitColumn] += f;
      walk(node.left);
      walk(node.right);
    };
    walk(tree.root);
    const sum = local.reduce((a, b) => a + b, 0) || 1;
    local.forEach((v, i) => (total[json.baseModel.indexes[t][i]] += v / sum));
  });
  const sum = total.reduce((a, b) => a + b, 0) || 1;
  return total.map((v) => v / sum);
}

/** `n` distinct items, by a partial Fisher–Yates shuffle. */
function sample(next: () => number, from: readonly number[], n: number): number[] {
  if (n >= from.length) return [...from];
  const pool = [...from];
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(next() * (pool.length - i));
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool.slice(0, n);
}
