import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { spawnEngine } from '../bench/engine-process';
import { ingestScenario } from '../bench/ingest.scenario';
import { modelScenario } from '../bench/model.scenario';
import { int } from '../output/options';

const SCENARIOS = ['model', 'endToEnd'] as const;

interface BenchOptions {
  scenarios: string;
  model: string;
  events: number;
  batch: number;
  concurrency: number;
  rate?: number;
  databaseUrl?: string;
  natsUrl: string;
  json?: boolean;
}

export function benchCommand(): Command {
  return new Command('bench')
    .description('measure the engine on this machine and print the figures as one JSON object')
    .option('--scenarios <list>', `comma-separated: ${SCENARIOS.join(', ')}`, SCENARIOS.join(','))
    .option('--model <file>', 'model for the inference measurement', 'models/default/model.json')
    .option('--events <n>', 'end to end: clicks to send over HTTP', int, 50_000)
    .option('--batch <n>', 'end to end: clicks per request', int, 500)
    .option('--concurrency <n>', 'end to end: requests in flight', int, 4)
    .option('--rate <n>', 'end to end: offer this many events/s instead of as fast as possible', int)
    .option('--database-url <url>', 'end to end: database for the engine under test (default: its embedded one)')
    .option('--nats-url <url>', 'end to end: NATS for the engine under test', 'nats://127.0.0.1:4222')
    .option('--json', 'print only the JSON object, on one line')
    .action(async (o: BenchOptions) => {
      const wanted = new Set(o.scenarios.split(',').map((s) => s.trim()));
      const unknown = [...wanted].filter((s) => !(SCENARIOS as readonly string[]).includes(s));
      if (unknown.length) throw new Error(`unknown scenario(s): ${unknown.join(', ')}`);
      const tty = process.stderr.isTTY && !o.json;
      const result: Record<string, unknown> = {
        machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
        at: new Date().toISOString(),
      };
      if (wanted.has('model')) {
        if (tty) process.stderr.write('  model inference…\n');
        result.model = modelScenario(o.model);
      }
      if (wanted.has('endToEnd')) {
        const dataDir = mkdtempSync(join(tmpdir(), 'arbiter-bench-'));
        const engine = await spawnEngine({ databaseUrl: o.databaseUrl, natsUrl: o.natsUrl, dataDir });
        try {
          result.endToEnd = {
            database: o.databaseUrl ? 'external' : 'embedded',
            ...(await ingestScenario(engine, {
              events: o.events,
              batch: o.batch,
              concurrency: o.concurrency,
              rate: o.rate,
              progress: tty ? (n) => process.stderr.write(`\r  end to end: sent ${n} / ${o.events}`) : undefined,
            })),
          };
          if (tty) process.stderr.write('\n');
        } finally {
          await engine.stop();
          rmSync(dataDir, { recursive: true, force: true });
        }
      }
      process.stdout.write(`${JSON.stringify(result, null, o.json ? undefined : 2)}\n`);
    });
}
