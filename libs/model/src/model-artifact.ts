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
}

/** A model ready to score: compiled forests, checked against the engine's feature lists. */
export class ModelRuntime {
  readonly click: CompiledForest | null;
  readonly conversion: CompiledForest | null;

  constructor(readonly artifact: ModelArtifact) {
    if (artifact.format !== 'arbiter-model/1') throw new ModelError(`unknown model format "${artifact.format}"`);
    assertFeatures('click', artifact.features.click, CLICK_FEATURES);
    assertFeatures('conversion', artifact.features.conversion, CONVERSION_FEATURES);
    this.click = artifact.click ? CompiledForest.fromJSON(artifact.click) : null;
    this.conversion = artifact.conversion ? CompiledForest.fromJSON(artifact.conversion) : null;
  }

  get version(): string {
    return this.artifact.version;
  }

  static fromFile(path: string): ModelRuntime {
    return new ModelRuntime(JSON.parse(readFileSync(path, 'utf8')) as ModelArtifact);
  }
}

export class ModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelError';
  }
}

function assertFeatures(side: string, model: readonly string[], engine: readonly string[]): void {
  if (model.length !== engine.length || model.some((f, i) => f !== engine[i])) {
    throw new ModelError(
      `the model's ${side} features differ from this engine's (${model.length} vs ${engine.length}): retrain it with this version`,
    );
  }
}
