/** The parts of an `ml-random-forest` classifier's `toJSON()` that prediction needs. */
export interface ForestJson {
  name: 'RFClassifier';
  baseModel: {
    nEstimators: number;
    indexes: number[][];
    estimators: { root: TreeNodeJson }[];
    isClassifier: boolean;
  };
}

export interface TreeNodeJson {
  distribution?: number[][];
  splitColumn?: number;
  splitValue?: number;
  gain?: number;
  numberSamples?: number;
  left?: TreeNodeJson;
  right?: TreeNodeJson;
}

/**
 * A random forest flattened into typed arrays for allocation-free inference. It reproduces
 * `RandomForestClassifier.predictProbability(x, 1)` of ml-random-forest 2.1 to the bit, including
 * two of its quirks: a tree's class is the first arg-max of its leaf distribution (ties go to 0),
 * and the vote sum is a `reduce` without an initial value, so the first tree contributes its class
 * index (0 or 1) in millionths instead of 1/n. Kept identical on purpose: the forest a data
 * scientist inspects with the library is the one that decides.
 */
export class CompiledForest {
  private readonly feature: Int32Array;
  private readonly threshold: Float64Array;
  private readonly left: Int32Array;
  private readonly right: Int32Array;
  private readonly leafClass: Uint8Array;
  private readonly roots: Int32Array;
  readonly trees: number;
  readonly nodes: number;

  private constructor(nodes: { feature: number; threshold: number; left: number; right: number; leafClass: number }[], roots: number[]) {
    const n = nodes.length;
    this.feature = new Int32Array(n);
    this.threshold = new Float64Array(n);
    this.left = new Int32Array(n);
    this.right = new Int32Array(n);
    this.leafClass = new Uint8Array(n);
    nodes.forEach((node, i) => {
      this.feature[i] = node.feature;
      this.threshold[i] = node.threshold;
      this.left[i] = node.left;
      this.right[i] = node.right;
      this.leafClass[i] = node.leafClass;
    });
    this.roots = Int32Array.from(roots);
    this.trees = roots.length;
    this.nodes = n;
  }

  static fromJSON(json: ForestJson): CompiledForest {
    if (json.name !== 'RFClassifier' || !json.baseModel?.isClassifier) throw new Error('not an ml-random-forest classifier');
    const nodes: { feature: number; threshold: number; left: number; right: number; leafClass: number }[] = [];
    const roots: number[] = [];
    const add = (node: TreeNodeJson, columns: number[]): number => {
      const at = nodes.length;
      nodes.push({ feature: -1, threshold: 0, left: -1, right: -1, leafClass: 0 });
      if (node.distribution !== undefined) {
        nodes[at].leafClass = argMaxFirst(node.distribution[0] ?? []);
        return at;
      }
      if (node.splitColumn === undefined || node.splitValue === undefined || !node.left || !node.right)
        throw new Error('malformed tree node');
      // Trees are trained on a column subset: map the tree's column to the feature vector's.
      nodes[at].feature = columns[node.splitColumn];
      nodes[at].threshold = node.splitValue;
      nodes[at].left = add(node.left, columns);
      nodes[at].right = add(node.right, columns);
      return at;
    };
    json.baseModel.estimators.forEach((tree, i) => roots.push(add(tree.root, json.baseModel.indexes[i])));
    return new CompiledForest(nodes, roots);
  }

  /** The class (0 / 1) one tree predicts for `x`. */
  private vote(tree: number, x: Float64Array): number {
    let node = this.roots[tree];
    let feature = this.feature[node];
    while (feature >= 0) {
      // The library's test is `x < split` (left) else right; NaN goes right, as there.
      node = x[feature] < this.threshold[node] ? this.left[node] : this.right[node];
      feature = this.feature[node];
    }
    return this.leafClass[node];
  }

  /** Probability of class 1 ("fraud"), exactly as ml-random-forest computes it. */
  probability(x: Float64Array): number {
    const n = this.trees;
    const share = 1_000_000 / n;
    let p = this.vote(0, x);
    for (let t = 1; t < n; t++) if (this.vote(t, x) === 1) p += share;
    return Math.round(p) / 1_000_000;
  }
}

function argMaxFirst(row: number[]): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}
