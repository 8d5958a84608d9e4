import { existsSync } from 'node:fs';
import { ScoringEngine } from '@app/decisions';
import { OfflineRunner, confusion, prAuc, rocAuc } from '@app/evaluation';
import { CLICK_FEATURES, CONVERSION_FEATURES } from '@app/features';
import {
  CompiledForest,
  ForestOptions,
  ForestProvenance,
  HeldOutFigures,
  ModelArtifact,
  ModelRuntime,
  ValidationRow,
  chooseThreshold,
  trainForest,
} from '@app/model';
import { DEFAULT_POLICY, DEFAULT_RULESET } from '@app/rules';

type Side = 'click' | 'conversion';
/** One labelled event's features (the model's inputs) and its label (1: fraud). */
export interface Row {
  x: Float64Array;
  y: number;
}

/** Labelled events as the offline runner reads them (an NDJSON file, the database). */
export type LabelledEvents = Parameters<OfflineRunner['run']>[0];

/** How a model is trained, and what its card says about where it came from. */
export interface TrainingOptions {
  forest: ForestOptions;
  /** Share of each source's latest labelled events held out to pick thresholds and report. */
  validationShare: number;
  /** Precision rules + model must keep on held-out data. */
  minPrecision: number;
  /** MODEL_RISK never fires below this probability. */
  minThreshold: number;
  /** Whose labels these are: `operator` (the model may decide once it meets the floors) or `simulator` (always advisory). */
  origin: 'operator' | 'simulator';
  version: string;
  /**
   * The distinct-count secret the features are counted with, as `trainingRows` takes it: the
   * deployment's (`DeploymentSecretRepository`) for its own history, `OFFLINE_DISTINCT_SECRET` for
   * files. No default: trained on live history with the public key, crafted ids would read as one device.
   */
  distinctSecret: string;
  /** Where the events came from, for the card. */
  source: string;
  /**
   * model.json whose forest a side without labels keeps (`none`: that side gets no forest); with
   * `keepRequired`, a missing file is an error instead of no forest.
   */
  keepFrom?: string;
  keepRequired?: boolean;
}

/** Progress and notes while training (the CLI draws a bar and writes to stderr). */
export interface TrainingHooks {
  log?(line: string): void;
  progress?: { start(total: number): void; update(done: number): void; stop(): void };
}

/** One source's labelled feature rows, in event order, and the offline runner's summary of it. */
export interface TrainingRows {
  rows: Record<'click' | 'conversion', Row[]>;
  summary: unknown;
}

/**
 * The labelled feature rows of one source: replayed through the scoring engine, the features of
 * each labelled click and conversion as the live scorer computes them — counted with
 * `distinctSecret`, which for a deployment's own history must be the deployment's: under the public
 * offline key, a publisher's device ids built to collide read as one device in the training data
 * (while its scorers count hundreds), and the forest would learn the farm as a single device.
 */
export async function trainingRows(source: LabelledEvents, distinctSecret: string): Promise<TrainingRows> {
  const rows: Record<Side, Row[]> = { click: [], conversion: [] };
  const pending: Record<Side, Float64Array | null> = { click: null, conversion: null };
  const engine = new ScoringEngine(DEFAULT_RULESET, {
    features: { distinctSecret },
    featureSink: (side, _id, x) => (pending[side] = Float64Array.from(x)),
  });
  const collect = (side: Side, label: string | undefined) => {
    if (label && pending[side]) rows[side].push({ x: pending[side]!, y: label === 'fraud' ? 1 : 0 });
    pending[side] = null;
  };
  const summary = await new OfflineRunner(engine).run(source, {
    verdict: (_, t) => collect('click', t.label),
    decision: (_, t) => collect('conversion', t.label),
  });
  return { rows, summary };
}

/**
 * The training pipeline behind `arbiter train`: replays each source through the scoring engine (the
 * live scorer's features, in event order), trains a random forest per side that has both fraud and
 * legitimate labels on all but each source's latest share, picks the thresholds on that held-out
 * share, and returns the artifact with its card (figures, importance, provenance of each forest).
 */
export async function trainModel(
  sources: readonly LabelledEvents[],
  o: TrainingOptions,
  hooks: TrainingHooks = {},
): Promise<ModelArtifact> {
  const started = performance.now();
  // Per source, its labelled rows in time order: each source's latest share is held out.
  const perSource: Record<Side, Row[]>[] = [];
  const summaries: unknown[] = [];
  for (const source of sources) {
    const { rows, summary } = await trainingRows(source, o.distinctSecret);
    summaries.push(summary);
    perSource.push(rows);
  }
  const summary = summaries.length === 1 ? summaries[0] : summaries;
  const split = (side: Side, held: boolean) =>
    perSource.flatMap((r) => {
      const cut = Math.floor(r[side].length * (1 - o.validationShare));
      return held ? r[side].slice(cut) : r[side].slice(0, cut);
    });
  const rows: Record<Side, Row[]> = {
    click: perSource.flatMap((r) => r.click),
    conversion: perSource.flatMap((r) => r.conversion),
  };
  const featureSeconds = (performance.now() - started) / 1000;
  hooks.log?.(
    `features: ${rows.click.length} labelled clicks, ${rows.conversion.length} labelled conversions (${featureSeconds.toFixed(1)} s)`,
  );

  const options = o.forest;
  // A side trains only with both kinds of label; the other keeps another model's forest (or none).
  const trainable = (side: Side) => rows[side].some((r) => r.y === 1) && rows[side].some((r) => r.y === 0);
  const sides = (['click', 'conversion'] as const).filter(trainable);
  if (!sides.length) throw new Error('no side has both fraud and legitimate labels: nothing to train');
  const keepPath = o.keepFrom;
  const kept = sides.length < 2 && keepPath && keepPath !== 'none' && existsSync(keepPath) ? ModelRuntime.fromFile(keepPath) : null;
  if (o.keepRequired && keepPath !== 'none' && !kept && sides.length < 2) throw new Error(`--keep-from ${keepPath}: no such model`);
  hooks.progress?.start(options.bags * sides.length);
  const trained = {} as Partial<Record<Side, ReturnType<typeof trainForest>>>;
  const validation = {} as Record<Side, { rows: Row[]; probabilities: number[] }>;
  const thresholds = { click: 1, conversion: 1 } as Record<Side, number>;
  sides.forEach((side, s) => {
    const train = split(side, false);
    const held = split(side, true);
    trained[side] = trainForest(
      train.map((r) => r.x),
      train.map((r) => r.y),
      options,
      (done) => hooks.progress?.update(s * options.bags + done),
    );
    const forest = CompiledForest.fromJSON(trained[side]!.json);
    const probabilities = held.map((r) => forest.probability(r.x));
    validation[side] = { rows: held, probabilities };
    const risk = side === 'click' ? CLICK_FEATURES.indexOf('rules_risk') : CONVERSION_FEATURES.indexOf('rules_risk');
    const rulesReject = side === 'click' ? DEFAULT_POLICY.clickInvalidThreshold : DEFAULT_POLICY.rejectThreshold;
    const vrows: ValidationRow[] = held.map((r, i) => ({
      probability: probabilities[i],
      rulesReject: r.x[risk] >= rulesReject,
      fraud: r.y === 1,
    }));
    thresholds[side] = chooseThreshold(vrows, o.minPrecision, o.minThreshold);
  });
  hooks.progress?.stop();
  const trainingSeconds = Math.round((performance.now() - started) / 100) / 10;

  const report = (side: Side) => {
    if (!validation[side]) return undefined;
    const { rows: held, probabilities } = validation[side];
    const risk = side === 'click' ? CLICK_FEATURES.indexOf('rules_risk') : CONVERSION_FEATURES.indexOf('rules_risk');
    const rulesReject = side === 'click' ? DEFAULT_POLICY.clickInvalidThreshold : DEFAULT_POLICY.rejectThreshold;
    const scored = held.map((r, i) => ({ score: probabilities[i], fraud: r.y === 1 }));
    const rules = held.map((r) => ({ score: r.x[risk], fraud: r.y === 1 }));
    return {
      rows: held.length,
      fraud: held.filter((r) => r.y === 1).length,
      rocAuc: { rules: rocAuc(rules), model: rocAuc(scored) },
      prAuc: { rules: prAuc(rules), model: prAuc(scored) },
      threshold: thresholds[side],
      rulesOnly: confusion(held.map((r) => ({ flagged: r.x[risk] >= rulesReject, fraud: r.y === 1 }))),
      rulesAndModel: confusion(
        held.map((r, i) => ({ flagged: r.x[risk] >= rulesReject || probabilities[i] >= thresholds[side], fraud: r.y === 1 })),
      ),
    };
  };
  // What the scorer checks against the operator's floors: MODEL_RISK alone, at its threshold.
  const heldOut = (side: Side): HeldOutFigures | undefined => {
    if (!validation[side]) return undefined;
    const { rows: held, probabilities } = validation[side];
    const c = confusion(held.map((r, i) => ({ flagged: probabilities[i] >= thresholds[side], fraud: r.y === 1 })));
    return {
      rows: held.length,
      fraud: c.tp + c.fn,
      legit: c.fp + c.tn,
      precision: c.precision,
      falsePositiveRate: c.falsePositiveRate,
    };
  };
  const importance = (side: Side, names: readonly string[]) => {
    const forest = trained[side];
    if (!forest) return kept?.artifact.card.featureImportance[side] ?? {};
    return Object.fromEntries(
      names.map((n, i) => [n, Math.round(forest.importance[i] * 10_000) / 10_000] as const).sort((a, b) => b[1] - a[1]),
    );
  };
  const keptOrigin = (): 'operator' | 'simulator' | 'unknown' => kept?.artifact.card.origin ?? 'unknown';
  const provenance = (side: Side): ForestProvenance =>
    trained[side]
      ? { source: 'trained' }
      : kept?.[side]
        ? { source: 'kept', from: kept.version, origin: keptOrigin() }
        : { source: 'none' };
  for (const side of ['click', 'conversion'] as const) if (!trained[side] && kept) thresholds[side] = kept.artifact.thresholds[side];
  // Held-out figures of a kept forest count only when the model it came from was trained on the operator's labels.
  const keptHeldOut = (side: Side) => (kept && keptOrigin() === 'operator' ? kept.artifact.card.heldOut?.[side] : undefined);
  const count = (side: Side) => ({
    fraud: rows[side].filter((r) => r.y === 1).length,
    legit: rows[side].filter((r) => r.y === 0).length,
  });
  return {
    format: 'arbiter-model/1',
    version: o.version,
    features: { click: [...CLICK_FEATURES], conversion: [...CONVERSION_FEATURES] },
    thresholds,
    click: trained.click?.json ?? kept?.artifact.click ?? null,
    conversion: trained.conversion?.json ?? kept?.artifact.conversion ?? null,
    // A kept forest keeps its own node statistics (none when its model was trained before them).
    explanation: {
      click: trained.click?.explanation ?? kept?.artifact.explanation?.click ?? null,
      conversion: trained.conversion?.explanation ?? kept?.artifact.explanation?.conversion ?? null,
    },
    card: {
      trainedAt: new Date().toISOString(),
      trainingSeconds,
      source: o.source,
      rows: { clicks: count('click'), conversions: count('conversion') },
      sampledPerForest: { clicks: trained.click?.sampledRows ?? 0, conversions: trained.conversion?.sampledRows ?? 0 },
      options: {
        ...options,
        validationShare: o.validationShare,
        minPrecision: o.minPrecision,
        ruleset: DEFAULT_RULESET.version,
        events: summary,
      },
      featureImportance: { click: importance('click', CLICK_FEATURES), conversion: importance('conversion', CONVERSION_FEATURES) },
      validation: { click: report('click'), conversion: report('conversion') },
      origin: o.origin,
      heldOut: { click: heldOut('click') ?? keptHeldOut('click'), conversion: heldOut('conversion') ?? keptHeldOut('conversion') },
      forests: { click: provenance('click'), conversion: provenance('conversion') },
    },
  };
}
