import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { loadConfig } from '@app/config';
import { ScoringEngine } from '@app/decisions';
import { EvaluationCollector, EvaluationReport, OfflineRunner, confusion, prAuc, rocAuc } from '@app/evaluation';
import { CLICK_FEATURES, CONVERSION_FEATURES } from '@app/features';
import { readNdjson } from '@app/ingest';
import {
  CompiledForest,
  CrossProfileFigures,
  DEFAULT_FOREST_OPTIONS,
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
import { int } from '../output/options';
import { progress } from '../output/progress';
import { modelCardMarkdown } from '../output/model-card';
import { databaseEvents } from '../replay/database-events';

type Side = 'click' | 'conversion';
interface Row {
  x: Float64Array;
  y: number;
}

export function trainCommand(): Command {
  return new Command('train')
    .description('train the fraud model (two random forests: clicks, conversions) on labelled events')
    .option(
      '--events <files...>',
      'labelled NDJSON (e.g. from `arbiter simulate`); several files are several networks, each replayed on its own',
    )
    .option('--from-db', 'train on the database instead: simulator labels, advertiser feedback and analyst decisions')
    .requiredOption('--out <dir>', 'directory for model.json and its card (README.md)')
    .option('--version <name>', 'model version (default: m-<date>-<seed>)')
    .option('--trees <n>', 'trees per forest', int, DEFAULT_FOREST_OPTIONS.trees)
    .option('--bags <n>', 'balanced samples the trees are spread over', int, DEFAULT_FOREST_OPTIONS.bags)
    .option('--rows-per-bag <n>', 'rows per sample (training time grows with its square)', int, DEFAULT_FOREST_OPTIONS.rowsPerBag)
    .option('--max-depth <n>', 'tree depth', int, DEFAULT_FOREST_OPTIONS.maxDepth)
    .option('--seed <n>', 'random seed', int, DEFAULT_FOREST_OPTIONS.seed)
    .option('--validation <share>', 'share of the latest labelled events held out to pick thresholds and report', (v) => Number(v), 0.2)
    .option('--min-precision <p>', 'precision rules + model must keep on held-out data', (v) => Number(v), 0.98)
    .option('--min-threshold <p>', 'MODEL_RISK never fires below this probability (a majority of trees)', (v) => Number(v), 0.5)
    .option(
      '--origin <who>',
      "whose labels these are: `operator` (this network's: the model may decide once it meets MODEL_MIN_PRECISION / MODEL_MAX_FALSE_POSITIVE_RATE) or `simulator` (always advisory)",
      'operator',
    )
    .option(
      '--keep-from <model>',
      'model.json whose forest a side without labels keeps (default: ARBITER_DEFAULT_MODEL; `none`: that side gets no forest)',
    )
    .option(
      '--evaluate-on <profile=file...>',
      "after training, replay each labelled file (e.g. `simulate --profile shop`) with the new model and write the false-positive rates on its legitimate traffic into the card's cross-profile table",
    )
    .action(async (o) => {
      if (!o.events === !o.fromDb) throw new Error('give exactly one of --events FILE or --from-db');
      if (o.origin !== 'operator' && o.origin !== 'simulator') throw new Error('--origin is operator or simulator');
      const started = performance.now();
      // Per source, its labelled rows in time order: each source's latest share is held out.
      const perSource: Record<Side, Row[]>[] = [];
      const summaries: unknown[] = [];
      for (const source of o.fromDb ? [databaseEvents()] : (o.events as string[]).map((f) => readNdjson(f))) {
        const rows: Record<Side, Row[]> = { click: [], conversion: [] };
        const pending: Record<Side, Float64Array | null> = { click: null, conversion: null };
        const engine = new ScoringEngine(DEFAULT_RULESET, { featureSink: (side, _id, x) => (pending[side] = Float64Array.from(x)) });
        const collect = (side: Side, label: string | undefined) => {
          if (label && pending[side]) rows[side].push({ x: pending[side]!, y: label === 'fraud' ? 1 : 0 });
          pending[side] = null;
        };
        summaries.push(
          await new OfflineRunner(engine).run(source, {
            verdict: (_, t) => collect('click', t.label),
            decision: (_, t) => collect('conversion', t.label),
          }),
        );
        perSource.push(rows);
      }
      const summary = summaries.length === 1 ? summaries[0] : summaries;
      const split = (side: Side, held: boolean) =>
        perSource.flatMap((r) => {
          const cut = Math.floor(r[side].length * (1 - o.validation));
          return held ? r[side].slice(cut) : r[side].slice(0, cut);
        });
      const rows: Record<Side, Row[]> = {
        click: perSource.flatMap((r) => r.click),
        conversion: perSource.flatMap((r) => r.conversion),
      };
      const featureSeconds = (performance.now() - started) / 1000;
      process.stderr.write(
        `features: ${rows.click.length} labelled clicks, ${rows.conversion.length} labelled conversions (${featureSeconds.toFixed(1)} s)\n`,
      );

      const options: ForestOptions = {
        ...DEFAULT_FOREST_OPTIONS,
        trees: o.trees,
        bags: o.bags,
        rowsPerBag: o.rowsPerBag,
        maxDepth: o.maxDepth,
        seed: o.seed,
      };
      // A side trains only with both kinds of label; the other keeps another model's forest (or none).
      const trainable = (side: Side) => rows[side].some((r) => r.y === 1) && rows[side].some((r) => r.y === 0);
      const sides = (['click', 'conversion'] as const).filter(trainable);
      if (!sides.length) throw new Error('no side has both fraud and legitimate labels: nothing to train');
      const keepPath = o.keepFrom ?? loadConfig(process.env).ARBITER_DEFAULT_MODEL;
      const kept = sides.length < 2 && keepPath && keepPath !== 'none' && existsSync(keepPath) ? ModelRuntime.fromFile(keepPath) : null;
      if (o.keepFrom && o.keepFrom !== 'none' && !kept && sides.length < 2) throw new Error(`--keep-from ${o.keepFrom}: no such model`);
      const bar = progress('train', options.bags * sides.length);
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
          (done) => bar.update(s * options.bags + done),
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
      bar.stop();
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
      const artifact: ModelArtifact = {
        format: 'arbiter-model/1',
        version: o.version ?? `m-${new Date().toISOString().slice(0, 10)}-${o.seed}`,
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
          source: o.fromDb ? 'database' : (o.events as string[]).join(', '),
          rows: { clicks: count('click'), conversions: count('conversion') },
          sampledPerForest: { clicks: trained.click?.sampledRows ?? 0, conversions: trained.conversion?.sampledRows ?? 0 },
          options: {
            ...options,
            validationShare: o.validation,
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
      if (o.evaluateOn?.length) artifact.card.crossProfile = await crossProfile(artifact, o.evaluateOn);
      mkdirSync(o.out, { recursive: true });
      writeFileSync(join(o.out, 'model.json'), JSON.stringify(artifact));
      writeFileSync(join(o.out, 'README.md'), modelCardMarkdown(artifact));
      process.stdout.write(
        `${JSON.stringify({
          version: artifact.version,
          out: o.out,
          trainingSeconds,
          thresholds,
          forests: artifact.card.forests,
          heldOut: artifact.card.heldOut,
          validation: artifact.card.validation,
        })}\n`,
      );
    });
}

/** Replays each `profile=file` with the model as the active one (authority as configured) and measures it on the legitimate traffic. */
async function crossProfile(artifact: ModelArtifact, specs: string[]): Promise<CrossProfileFigures[]> {
  const config = loadConfig(process.env);
  const figures: CrossProfileFigures[] = [];
  for (const spec of specs) {
    const at = spec.indexOf('=');
    if (at <= 0) throw new Error(`--evaluate-on ${spec}: give profile=file`);
    const engine = new ScoringEngine(DEFAULT_RULESET, {
      modelFloors: { minPrecision: config.MODEL_MIN_PRECISION, maxFalsePositiveRate: config.MODEL_MAX_FALSE_POSITIVE_RATE },
    });
    engine.useModels(new ModelRuntime(artifact));
    const collector = new EvaluationCollector();
    await new OfflineRunner(engine).run(readNdjson(spec.slice(at + 1)), {
      verdict: (v, t) => collector.verdict(v, t),
      decision: (d, t) => collector.decision(d, t),
      revision: (d) => collector.revision(d),
    });
    const report = collector.report();
    figures.push({
      profile: spec.slice(0, at),
      legitClicks: report.clicks.legit,
      legitConversions: report.conversions.legit,
      clicksFlagged: modelOnLegit(report.clicks),
      clicksInvalid: report.clicks.invalid.falsePositiveRate,
      conversionsFlagged: modelOnLegit(report.conversions),
      conversionsHeld: report.conversions.heldOrRejected.falsePositiveRate,
      conversionsRejected: report.conversions.engine.falsePositiveRate,
    });
    process.stderr.write(`${JSON.stringify(figures.at(-1))}\n`);
  }
  return figures;
}

/** Share of legitimate events MODEL_RISK fired on. */
function modelOnLegit(side: EvaluationReport['clicks'] | EvaluationReport['conversions']): number | null {
  const r = side.reasons.find((x) => x.code === 'MODEL_RISK');
  if (!side.legit) return null;
  if (!r || r.precision === null) return 0;
  return Math.round(((r.fired - Math.round(r.fired * r.precision)) / side.legit) * 10_000) / 10_000;
}
