import { readFileSync } from 'node:fs';
import { CLICK_FEATURES, CONVERSION_FEATURES } from '@app/features';
import { CompiledForest, ForestJson } from './compiled-forest';

/** What a model was trained on and how it did: its card, and the evidence for activating it. */
export interface ModelCard {
  trainedAt: string;
  trainingSeconds: number;
  source: string;
  rows: { clicks: { fraud: number; legit: number }; conversions: { fraud: number; legit: number } };
  sampledPerForest: { clicks: number; conversions: number };
  options: Record<string, unknown>;
  featureImportance: { click: Record<string, number>; conversion: Record<string, number> };
  validation?: Record<string, unknown>;
  /**
   * Whose labels trained it: `operator` (this network's own history or files) may earn the power to
   * decide; `simulator` (someone else's traffic) stays advisory. Missing on older cards: advisory.
   */
  origin?: 'operator' | 'simulator';
  /** The model alone at its threshold on held-out data, per side: what the scorer checks against the floors. */
  heldOut?: Partial<Record<'click' | 'conversion', HeldOutFigures>>;
  /** Per side: trained here, kept from another model (its version) when this training had no labels for it, or none. */
  forests?: Record<'click' | 'conversion', ForestProvenance>;
  /** False-positive rates on legitimate traffic of simulator profiles the model was not trained on (the default model). */
  crossProfile?: CrossProfileFigures[];
}

/** Precision and false-positive rate of MODEL_RISK alone on held-out rows. */
export interface HeldOutFigures {
  rows: number;
  fraud: number;
  legit: number;
  precision: number | null;
  falsePositiveRate: number | null;
}

export type ForestProvenance =
  { source: 'trained' } | { source: 'kept'; from: string; origin: 'operator' | 'simulator' | 'unknown' } | { source: 'none' };

/** How a model did on one simulator profile it never saw. */
export interface CrossProfileFigures {
  profile: string;
  legitClicks: number;
  legitConversions: number;
  /** Legitimate clicks on which MODEL_RISK fired (advisory: flagged for review), and the engine's invalid share. */
  clicksFlagged: number | null;
  clicksInvalid: number | null;
  /** Legitimate conversions on which MODEL_RISK fired, held at first, and rejected by the engine. */
  conversionsFlagged: number | null;
  conversionsHeld: number | null;
  conversionsRejected: number | null;
}

/** Stored beside a forest in the model artifact so MODEL_RISK can explain each event (path contributions). */
export interface ForestExplanation {
  /**
   * Fraud share of the training rows that reached each node, one per node in the compiled
   * evaluator's flat order (trees in order, each pre-order), rounded to millionths.
   */
  nodeFraudShare: number[];
  /** Median of each feature among the legitimate training rows (null: unknown on all of them). */
  typicalLegit: (number | null)[];
}

/** A model as stored in `models/` and in the object store: two forests and their contract. */
export interface ModelArtifact {
  format: 'arbiter-model/1';
  version: string;
  features: { click: string[]; conversion: string[] };
  /** Probability from which MODEL_RISK fires, chosen on held-out data at training. */
  thresholds: { click: number; conversion: number };
  click: ForestJson | null;
  conversion: ForestJson | null;
  card: ModelCard;
  /**
   * Per forest, what MODEL_RISK needs to explain each event (path contributions). Missing on models
   * trained before per-event explanations: they still score, and their evidence says to retrain.
   */
  explanation?: Record<'click' | 'conversion', ForestExplanation | null>;
}

/** One feature's part in the model's probability for one event, beside legitimate traffic's typical value. */
export interface FeatureContribution {
  feature: string;
  /** The event's value (null: unknown). */
  value: number | null;
  /** Median among the legitimate training rows (null: unknown there). */
  typicalLegit: number | null;
  /** Added to the probability by the splits on this feature along the event's paths (negative: towards legitimate). */
  contribution: number;
}

/** Why the model scored one event as it did: `bias` (the forest's prior) plus every feature's contribution is its probability. */
export interface EventExplanation {
  bias: number;
  /** The largest contributions by size, largest first. */
  contributions: FeatureContribution[];
}

/** A model ready to score: compiled forests, checked against the engine's feature lists. */
export class ModelRuntime {
  readonly click: CompiledForest | null;
  readonly conversion: CompiledForest | null;
  /** Legitimate traffic's typical value per feature, per explainable side (read once: the artifact is a large parsed object). */
  private readonly typical: Record<'click' | 'conversion', readonly (number | null)[] | null>;
  private readonly scratch = { click: new Float64Array(CLICK_FEATURES.length), conversion: new Float64Array(CONVERSION_FEATURES.length) };
  /** Where `largestBySize` puts the features it picks, per side. */
  private readonly order = { click: new Int32Array(CLICK_FEATURES.length), conversion: new Int32Array(CONVERSION_FEATURES.length) };

  constructor(readonly artifact: ModelArtifact) {
    if (artifact.format !== 'arbiter-model/1') throw new ModelError(`unknown model format "${artifact.format}"`);
    assertFeatures('click', artifact.features.click, CLICK_FEATURES);
    assertFeatures('conversion', artifact.features.conversion, CONVERSION_FEATURES);
    this.click = compile(artifact, 'click', CLICK_FEATURES.length);
    this.conversion = compile(artifact, 'conversion', CONVERSION_FEATURES.length);
    this.typical = {
      click: this.click?.explainable ? (artifact.explanation?.click?.typicalLegit ?? null) : null,
      conversion: this.conversion?.explainable ? (artifact.explanation?.conversion?.typicalLegit ?? null) : null,
    };
  }

  /**
   * This event's own explanation on one side: path contributions through the compiled trees, the
   * `top` largest by size with the event's value and legitimate traffic's typical one. Null when the
   * side has no forest or the model carries no node statistics (trained before explanations).
   * Allocates: for events MODEL_RISK fired on, not for scoring.
   */
  explain(side: 'click' | 'conversion', x: Float64Array, top = 5): EventExplanation | null {
    const forest = side === 'click' ? this.click : this.conversion;
    const typical = side === 'click' ? this.typical.click : this.typical.conversion;
    const names = side === 'click' ? CLICK_FEATURES : CONVERSION_FEATURES;
    const scratch = side === 'click' ? this.scratch.click : this.scratch.conversion;
    // The contributions are read here only, so one buffer per side serves every event.
    const paths = typical ? forest?.explain(x, names.length, scratch) : null;
    if (!typical || !paths) return null;
    const c = paths.contributions;
    const order = side === 'click' ? this.order.click : this.order.conversion;
    const n = largestBySize(c, top, order);
    const contributions: FeatureContribution[] = [];
    for (let k = 0; k < n; k++) {
      const f = order[k];
      contributions.push({
        feature: names[f],
        value: Number.isNaN(x[f]) ? null : x[f],
        typicalLegit: typical[f],
        contribution: c[f],
      });
    }
    return { bias: paths.bias, contributions };
  }

  get version(): string {
    return this.artifact.version;
  }

  static fromFile(path: string): ModelRuntime {
    return new ModelRuntime(JSON.parse(readFileSync(path, 'utf8')) as ModelArtifact);
  }
}

/**
 * The indexes of the `top` values of `c` largest by size (ties: the earlier index), zeros left out,
 * largest first, into `into` (at most its length); returns how many. One pass keeping them in
 * order: a pass over every feature per pick cost a third of MODEL_RISK's explanation. For finite
 * values (contributions are) the same picks in the same order.
 */
export function largestBySize(c: ArrayLike<number>, top: number, into: Int32Array): number {
  top = Math.min(Math.ceil(top), into.length);
  if (!(top > 0)) return 0;
  let kept = 0;
  for (let f = 0; f < c.length; f++) {
    const size = Math.abs(c[f]);
    if (size === 0) continue;
    // Not above the smallest kept: it stays out (on a tie the kept one is the earlier feature).
    if (kept === top && !(size > Math.abs(c[into[kept - 1]]))) continue;
    let i = kept < top ? kept++ : kept - 1;
    for (; i > 0 && size > Math.abs(c[into[i - 1]]); i--) into[i] = into[i - 1];
    into[i] = f;
  }
  return kept;
}

export class ModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelError';
  }
}

/** A side's forest, compiled with its node statistics when the artifact has them (checked against the forest). */
function compile(artifact: ModelArtifact, side: 'click' | 'conversion', features: number): CompiledForest | null {
  const json = artifact[side];
  if (!json) return null;
  const explanation = artifact.explanation?.[side];
  if (explanation && explanation.typicalLegit.length !== features)
    throw new ModelError(`the model's ${side} explanation has ${explanation.typicalLegit.length} typical values for ${features} features`);
  try {
    return CompiledForest.fromJSON(json, explanation?.nodeFraudShare);
  } catch (e) {
    throw new ModelError(`the model's ${side} forest: ${(e as Error).message}`);
  }
}

function assertFeatures(side: string, model: readonly string[], engine: readonly string[]): void {
  if (model.length !== engine.length || model.some((f, i) => f !== engine[i])) {
    throw new ModelError(
      `the model's ${side} features differ from this engine's (${model.length} vs ${engine.length}): retrain it with this version`,
    );
  }
}
