import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { ScoringEngine } from '@app/decisions';
import { OfflineRunner, confusion, prAuc, rocAuc } from '@app/evaluation';
import { CLICK_FEATURES, CONVERSION_FEATURES } from '@app/features';
import { readNdjson } from '@app/ingest';
import {
  CompiledForest,
  DEFAULT_FOREST_OPTIONS,
  ForestOptions,
  ModelArtifact,
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
    .option('--events <file>', 'labelled NDJSON (e.g. from `arbiter simulate`)')
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
    .action(async (o) => {
      if (!o.events === !o.fromDb) throw new Error('give exactly one of --events FILE or --from-db');
      const started = performance.now();
      const rows: Record<Side, Row[]> = { click: [], conversion: [] };
      const pending: Record<Side, Float64Array | null> = { click: null, conversion: null };
      const engine = new ScoringEngine(DEFAULT_RULESET, { featureSink: (side, _id, x) => (pending[side] = Float64Array.from(x)) });
      const runner = new OfflineRunner(engine);
      const collect = (side: Side, label: string | undefined) => {
        if (label && pending[side]) rows[side].push({ x: pending[side]!, y: label === 'fraud' ? 1 : 0 });
        pending[side] = null;
      };
      const source = o.fromDb ? databaseEvents() : readNdjson(o.events);
      const summary = await runner.run(source, {
        verdict: (_, t) => collect('click', t.label),
        decision: (_, t) => collect('conversion', t.label),
      });
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
      const bar = progress('train', options.bags * 2);
      const trained = {} as Record<Side, ReturnType<typeof trainForest>>;
      const validation = {} as Record<Side, { rows: Row[]; probabilities: number[] }>;
      const thresholds = {} as Record<Side, number>;
      (['click', 'conversion'] as const).forEach((side, s) => {
        const all = rows[side];
        const cut = Math.floor(all.length * (1 - o.validation));
        const train = all.slice(0, cut);
        const held = all.slice(cut);
        trained[side] = trainForest(
          train.map((r) => r.x),
          train.map((r) => r.y),
          options,
          (done) => bar.update(s * options.bags + done),
        );
        const forest = CompiledForest.fromJSON(trained[side].json);
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
      const importance = (side: Side, names: readonly string[]) =>
        Object.fromEntries(
          names.map((n, i) => [n, Math.round(trained[side].importance[i] * 10_000) / 10_000] as const).sort((a, b) => b[1] - a[1]),
        );
      const count = (side: Side) => ({
        fraud: rows[side].filter((r) => r.y === 1).length,
        legit: rows[side].filter((r) => r.y === 0).length,
      });
      const artifact: ModelArtifact = {
        format: 'arbiter-model/1',
        version: o.version ?? `m-${new Date().toISOString().slice(0, 10)}-${o.seed}`,
        features: { click: [...CLICK_FEATURES], conversion: [...CONVERSION_FEATURES] },
        thresholds,
        click: trained.click.json,
        conversion: trained.conversion.json,
        card: {
          trainedAt: new Date().toISOString(),
          trainingSeconds,
          source: o.fromDb ? 'database' : o.events,
          rows: { clicks: count('click'), conversions: count('conversion') },
          sampledPerForest: { clicks: trained.click.sampledRows, conversions: trained.conversion.sampledRows },
          options: {
            ...options,
            validationShare: o.validation,
            minPrecision: o.minPrecision,
            ruleset: DEFAULT_RULESET.version,
            events: summary,
          },
          featureImportance: { click: importance('click', CLICK_FEATURES), conversion: importance('conversion', CONVERSION_FEATURES) },
          validation: { click: report('click'), conversion: report('conversion') },
        },
      };
      mkdirSync(o.out, { recursive: true });
      writeFileSync(join(o.out, 'model.json'), JSON.stringify(artifact));
      writeFileSync(join(o.out, 'README.md'), modelCardMarkdown(artifact));
      process.stdout.write(
        `${JSON.stringify({ version: artifact.version, out: o.out, trainingSeconds, thresholds, validation: artifact.card.validation })}\n`,
      );
    });
}
