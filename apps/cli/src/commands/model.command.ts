import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { Pool } from 'pg';
import { loadConfig } from '@app/config';
import { Topology } from '@app/contracts';
import { prAuc, ratio, rocAuc } from '@app/evaluation';
import { connectNats, drainNats } from '@app/messaging';
import { ModelArtifact } from '@app/model';
import { ModelRegistry } from '@app/live-config';
import { ModelRepository, createPool } from '@app/storage';
import { int } from '../output/options';

/** Runs `work` with a registry on the configured NATS and database. */
async function withRegistry<T>(work: (registry: ModelRegistry, pool: Pool) => Promise<T>): Promise<T> {
  const config = loadConfig(process.env);
  if (!config.DATABASE_URL) throw new Error('set DATABASE_URL (the engine’s database)');
  const pool = createPool({ url: config.DATABASE_URL, max: 2, applicationName: 'arbiter-model' });
  const nc = await connectNats(config.NATS_URL, 'arbiter-model');
  try {
    return await work(
      new ModelRegistry(nc, new Topology(config.ARBITER_NAMESPACE, config.ARBITER_PARTITIONS), new ModelRepository(pool)),
      pool,
    );
  } finally {
    await drainNats(nc);
    await pool.end();
  }
}

const print = (v: unknown): void => void process.stdout.write(`${JSON.stringify(v)}\n`);

export function modelCommand(): Command {
  const model = new Command('model').description('publish, activate and compare models on a running engine (NATS_URL, DATABASE_URL)');
  model
    .command('publish')
    .description('upload a trained model (its directory or model.json) so scorers can load it')
    .requiredOption('--model <path>', 'model directory or model.json')
    .option('--activate', 'make it the deciding model at once')
    .option('--shadow', 'run it in shadow beside the active model')
    .action((o: { model: string; activate?: boolean; shadow?: boolean }) =>
      withRegistry(async (registry) => {
        const file = statSync(o.model).isDirectory() ? join(o.model, 'model.json') : o.model;
        const published = await registry.publish(JSON.parse(readFileSync(file, 'utf8')) as ModelArtifact, 'cli');
        const selection =
          o.activate || o.shadow
            ? await registry.select(o.activate ? { active: published.version } : { shadow: published.version }, 'cli')
            : undefined;
        print({ ...published, selection });
      }),
    );
  model
    .command('activate <version>')
    .description('make a published model decide (`none`: rules only)')
    .action((version: string) => withRegistry(async (r) => print(await r.select({ active: version === 'none' ? null : version }, 'cli'))));
  model
    .command('shadow <version>')
    .description('score a published model beside the active one without deciding (`none`: stop)')
    .action((version: string) => withRegistry(async (r) => print(await r.select({ shadow: version === 'none' ? null : version }, 'cli'))));
  model
    .command('compare')
    .description('active vs shadow model on recent labelled traffic: ROC-AUC, PR-AUC, agreement')
    .option('--hours <n>', 'look back this many hours', int, 24)
    .action((o: { hours: number }) =>
      withRegistry(async (registry, pool) => {
        const since = new Date(Date.now() - o.hours * 3600_000);
        const clicks = await pool.query(
          `SELECT v.model_score AS active, v.shadow_score AS shadow, c.label = 'fraud' AS fraud, v.model_version, v.shadow_model_version
             FROM click_verdicts v JOIN clicks c ON c.id = v.click_id
            WHERE v.shadow_score IS NOT NULL AND v.decided_at >= $1 AND c.label IS NOT NULL`,
          [since],
        );
        const conversions = await pool.query(
          `SELECT d.model_score AS active, d.shadow_score AS shadow, d.model_version, d.shadow_model_version,
                  coalesce((SELECT f.status = 'rejected' FROM feedback f WHERE f.conversion_id = d.conversion_id ORDER BY f.ts DESC LIMIT 1),
                           c.label = 'fraud') AS fraud
             FROM decisions d JOIN conversions c ON c.id = d.conversion_id
            WHERE d.shadow_score IS NOT NULL AND d.decided_at >= $1`,
          [since],
        );
        const summarise = (rows: { active: number | null; shadow: number; fraud: boolean | null }[]) => {
          const labelled = rows.filter((r) => r.fraud !== null && r.active !== null);
          const pick = (k: 'active' | 'shadow') => labelled.map((r) => ({ score: r[k]!, fraud: !!r.fraud }));
          return {
            labelled: labelled.length,
            active: { rocAuc: rocAuc(pick('active')), prAuc: prAuc(pick('active')) },
            shadow: { rocAuc: rocAuc(pick('shadow')), prAuc: prAuc(pick('shadow')) },
            agreement: ratio(rows.filter((r) => r.active !== null && r.active >= 0.5 === r.shadow >= 0.5).length, rows.length),
          };
        };
        print({
          since: since.toISOString(),
          selection: await registry.selection(),
          clicks: summarise(clicks.rows),
          conversions: summarise(conversions.rows),
        });
      }),
    );
  model
    .command('list')
    .description('published models and which one decides')
    .action(() =>
      withRegistry(async (registry, pool) => {
        const versions = await new ModelRepository(pool).list();
        print({ selection: await registry.selection(), versions: versions.map(({ card: _c, ...v }) => v) });
      }),
    );
  return model;
}
