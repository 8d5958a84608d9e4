import { cpus } from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { int } from '../output/options';
import { spawnEngine } from '../bench/engine-process';
import { ingestScenario } from '../bench/ingest.scenario';

export function benchCommand(): Command {
  return new Command('bench')
    .description('measure the engine on this machine and print the figures as JSON')
    .option('--events <n>', 'clicks to send over HTTP', int, 50_000)
    .option('--batch <n>', 'clicks per request', int, 500)
    .option('--concurrency <n>', 'requests in flight', int, 4)
    .option('--rate <n>', 'offer this many events/s instead of as fast as possible', int)
    .option('--database-url <url>', 'database for the engine under test (default: its embedded one)')
    .option('--nats-url <url>', 'NATS for the engine under test', 'nats://127.0.0.1:4222')
    .option('--json', 'print only the JSON object')
    .action(
      async (o: {
        events: number;
        batch: number;
        concurrency: number;
        rate?: number;
        databaseUrl?: string;
        natsUrl: string;
        json?: boolean;
      }) => {
        const dataDir = mkdtempSync(join(tmpdir(), 'arbiter-bench-'));
        const engine = await spawnEngine({ databaseUrl: o.databaseUrl, natsUrl: o.natsUrl, dataDir });
        const tty = process.stderr.isTTY && !o.json;
        try {
          const ingest = await ingestScenario(engine, {
            events: o.events,
            batch: o.batch,
            concurrency: o.concurrency,
            rate: o.rate,
            progress: tty ? (n) => process.stderr.write(`\r  sent ${n} / ${o.events}`) : undefined,
          });
          if (tty) process.stderr.write('\n');
          const result = {
            machine: { cpus: cpus().length, node: process.version },
            database: o.databaseUrl ? 'external' : 'embedded',
            endToEnd: ingest,
          };
          process.stdout.write(`${JSON.stringify(result, null, o.json ? undefined : 2)}\n`);
        } finally {
          await engine.stop();
          rmSync(dataDir, { recursive: true, force: true });
        }
      },
    );
}
