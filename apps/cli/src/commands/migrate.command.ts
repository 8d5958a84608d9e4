import { Command } from 'commander';
import { jetstreamManager } from '@nats-io/jetstream';
import { loadConfig } from '@app/config';
import { Topology } from '@app/contracts';
import { connectNats, drainNats, provisionStreams } from '@app/messaging';
import { rootLogger } from '@app/observability';
import { createPool, migrate } from '@app/storage';

export function migrateCommand(): Command {
  return new Command('migrate')
    .description('apply pending database migrations and provision the JetStream streams (idempotent)')
    .option('--no-streams', 'only migrate the database')
    .action(async (options: { streams: boolean }) => {
      const config = loadConfig(process.env);
      rootLogger(config.LOG_LEVEL);
      if (!config.DATABASE_URL) throw new Error('set DATABASE_URL (embedded mode migrates by itself at `arbiter start`)');
      const pool = createPool({ url: config.DATABASE_URL, max: 1, applicationName: 'arbiter-migrate' });
      const report = await migrate(pool).finally(() => pool.end());
      const out: Record<string, unknown> = { database: report };
      if (options.streams) {
        const nc = await connectNats(config.NATS_URL, 'arbiter-migrate');
        try {
          const topology = new Topology(config.ARBITER_NAMESPACE, config.ARBITER_PARTITIONS);
          await provisionStreams(await jetstreamManager(nc), topology, config);
          out.streams = Object.values(topology.streams);
        } finally {
          await drainNats(nc);
        }
      }
      process.stdout.write(`${JSON.stringify(out)}\n`);
    });
}
