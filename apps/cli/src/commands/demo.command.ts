import { Command } from 'commander';
import { Pool } from 'pg';
import { Simulator, catalogLine } from '@app/simulator';
import { int } from '../output/options';
import { HttpReplayer } from '../replay/http-replayer';
import { startEngine } from './start.command';

/**
 * `npm run demo`: the engine on embedded defaults, fed with simulated traffic, with a summary of
 * what it decides printed every few seconds. The engine keeps running afterwards (Ctrl-C stops it).
 */
export function demoCommand(): Command {
  return new Command('demo')
    .description('start the engine, feed it simulated traffic and print a live summary')
    .option('--events <n>', 'simulated events to send', int, 30_000)
    .option('--rate <n>', 'events per second', int, 500)
    .option('--seed <n>', 'random seed', int, 42)
    .action(async (o: { events: number; rate: number; seed: number }) => {
      const engine = await startEngine({ LOG_LEVEL: 'warn', ...process.env });
      const stop = () => engine.stop().then(() => process.exit(0));
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      const db = new Pool({ connectionString: engine.config.DATABASE_URL, max: 1 });
      const host = '127.0.0.1';
      const sim = new Simulator({
        seed: o.seed,
        events: o.events,
        hours: 24,
        start: new Date(Date.now() - 24 * 3600_000),
        partitions: engine.config.ARBITER_PARTITIONS,
      });
      const replayer = new HttpReplayer(
        { gateway: `http://${host}:${engine.gatewayPort}`, api: `http://${host}:${engine.apiPort}`, adminKey: engine.adminKey },
        { rate: o.rate, batch: Math.max(50, Math.round(o.rate / 4)) },
      );
      process.stderr.write(
        `\n  Arbiter demo: gateway http://${host}:${engine.gatewayPort}, api http://${host}:${engine.apiPort}, admin key ${engine.adminKeyHint}\n`,
      );
      process.stderr.write(`  sending ${o.events} simulated events at ${o.rate}/s…\n\n`);
      await replayer.seed(catalogLine(sim.catalog));
      let sent = 0;
      const timer = setInterval(() => void summary(db, sent).catch(() => undefined), 3000);
      const result = await replayer.send(sim.events(), { update: (n) => (sent = n), stop: () => undefined });
      await new Promise((r) => setTimeout(r, 3000));
      clearInterval(timer);
      await summary(db, result.sent);
      process.stderr.write(`\n  done: ${JSON.stringify(result)}\n  the engine keeps running — try the API above; Ctrl-C stops it.\n`);
    });
}

async function summary(db: Pool, sent: number): Promise<void> {
  const [clicks, decisions, reasons, latency] = await Promise.all([
    db.query(`SELECT count(*) FILTER (WHERE valid)::int AS valid, count(*) FILTER (WHERE NOT valid)::int AS invalid FROM click_verdicts`),
    db.query(`SELECT status, count(*)::int AS n FROM decisions GROUP BY status`),
    db.query(
      `SELECT code, count(*)::int AS n FROM (SELECT unnest(reason_codes) AS code FROM decisions UNION ALL SELECT unnest(reason_codes) FROM click_verdicts) r
        GROUP BY code ORDER BY n DESC LIMIT 5`,
    ),
    db.query(
      `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50, percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms) AS p99 FROM click_verdicts`,
    ),
  ]);
  const status = Object.fromEntries(decisions.rows.map((r) => [r.status, r.n]));
  const c = clicks.rows[0];
  const l = latency.rows[0];
  process.stderr.write(
    `  sent ${sent} | clicks ${c.valid} valid, ${c.invalid} invalid | conversions ${status.approved ?? 0} approved, ${status.hold ?? 0} held, ${status.rejected ?? 0} rejected` +
      ` | latency p50 ${Math.round(l.p50 ?? 0)} ms, p99 ${Math.round(l.p99 ?? 0)} ms\n` +
      `  top reasons: ${reasons.rows.map((r) => `${r.code} ${r.n}`).join(', ') || '—'}\n`,
  );
}
