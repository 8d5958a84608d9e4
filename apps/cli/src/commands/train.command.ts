import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { loadConfig } from '@app/config';
import { readNdjson } from '@app/ingest';
import { OFFLINE_DISTINCT_SECRET } from '@app/features';
import { DEFAULT_FOREST_OPTIONS } from '@app/model';
import { crossProfile, trainModel } from '@app/training';
import { int } from '../output/options';
import { progress } from '../output/progress';
import { modelCardMarkdown } from '../output/model-card';
import { databaseDistinctSecret, databaseEvents } from '../replay/database-events';

export function trainCommand(): Command {
  return new Command('train')
    .description('train the fraud model (two random forests: clicks, conversions) on labelled events')
    .option(
      '--events <files...>',
      'labelled NDJSON (e.g. from `arbiter simulate`); several files are several networks, each replayed on its own',
    )
    .option(
      '--from-db',
      "train on the database instead: simulator labels, advertiser feedback and analyst decisions (distinct counts with the deployment's secret, as its scorers count)",
    )
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
      let bar: ReturnType<typeof progress> | undefined;
      const artifact = await trainModel(
        o.fromDb ? [databaseEvents()] : (o.events as string[]).map((f) => readNdjson(f)),
        {
          forest: { ...DEFAULT_FOREST_OPTIONS, trees: o.trees, bags: o.bags, rowsPerBag: o.rowsPerBag, maxDepth: o.maxDepth, seed: o.seed },
          validationShare: o.validation,
          minPrecision: o.minPrecision,
          minThreshold: o.minThreshold,
          origin: o.origin,
          version: o.version ?? `m-${new Date().toISOString().slice(0, 10)}-${o.seed}`,
          // The deployment's own history is counted as its scorers counted it; files (the
          // simulator's, another network's) with the fixed offline key, as `evaluate` does.
          distinctSecret: o.fromDb ? await databaseDistinctSecret() : OFFLINE_DISTINCT_SECRET,
          source: o.fromDb ? 'database' : (o.events as string[]).join(', '),
          keepFrom: o.keepFrom ?? loadConfig(process.env).ARBITER_DEFAULT_MODEL,
          keepRequired: !!o.keepFrom,
        },
        {
          log: (line) => process.stderr.write(`${line}\n`),
          progress: {
            start: (total) => (bar = progress('train', total)),
            update: (done) => bar?.update(done),
            stop: () => bar?.stop(),
          },
        },
      );
      if (o.evaluateOn?.length) {
        const profiles = (o.evaluateOn as string[]).map((spec) => {
          const at = spec.indexOf('=');
          if (at <= 0) throw new Error(`--evaluate-on ${spec}: give profile=file`);
          return { profile: spec.slice(0, at), events: readNdjson(spec.slice(at + 1)) };
        });
        const config = loadConfig(process.env);
        const floors = { minPrecision: config.MODEL_MIN_PRECISION, maxFalsePositiveRate: config.MODEL_MAX_FALSE_POSITIVE_RATE };
        artifact.card.crossProfile = await crossProfile(artifact, profiles, floors, (line) => process.stderr.write(`${line}\n`));
      }
      mkdirSync(o.out, { recursive: true });
      writeFileSync(join(o.out, 'model.json'), JSON.stringify(artifact));
      writeFileSync(join(o.out, 'README.md'), modelCardMarkdown(artifact));
      process.stdout.write(
        `${JSON.stringify({
          version: artifact.version,
          out: o.out,
          trainingSeconds: artifact.card.trainingSeconds,
          thresholds: artifact.thresholds,
          forests: artifact.card.forests,
          heldOut: artifact.card.heldOut,
          validation: artifact.card.validation,
        })}\n`,
      );
    });
}
