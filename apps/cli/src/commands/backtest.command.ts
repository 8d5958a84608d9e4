import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { int } from '../output/options';
import { progress } from '../output/progress';
import { resolveReplayTarget } from '../replay/http-replayer';

interface Job {
  id: string;
  status: 'running' | 'done' | 'failed';
  progress: { done: number; total: number };
  result: any;
  error: string | null;
}

function instant(value: string): string {
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new InvalidArgumentError('must be an ISO-8601 date-time (e.g. 2026-11-19T00:00:00Z)');
  return new Date(t).toISOString();
}

function scope(value: string): string {
  if (!/^(network|(advertiser|offer):[A-Za-z0-9_-]{1,64})$/.test(value))
    throw new InvalidArgumentError('must be network, advertiser:ID or offer:ID');
  return value;
}

/**
 * `arbiter backtest`: asks the running engine's API to replay stored traffic with a candidate rule
 * set beside the active one, shows the job's progress, and prints what would change.
 */
export function backtestCommand(): Command {
  return new Command('backtest')
    .description(
      'replay stored events of a range with a candidate rule set beside the active one: what would change, the money, precision / recall',
    )
    .requiredOption('--ruleset <file>', 'JSON: a whole configuration (as GET /v1/admin/rulesets returns it), or one layer with --layer')
    .option('--layer <scope>', 'network, advertiser:ID or offer:ID: the file replaces this layer of the active configuration', scope)
    .requiredOption('--from <time>', 'start of the range (inclusive), ISO-8601', instant)
    .requiredOption('--to <time>', 'end of the range (exclusive), ISO-8601', instant)
    .option('--warmup-hours <n>', 'hours before --from replayed to rebuild the windows (default: the scorer’s SCORER_REPLAY_HOURS)', Number)
    .option('--api <url>', 'the engine API (default: http://127.0.0.1:$API_PORT)')
    .option('--admin-key <key>', 'admin API key (default: $ARBITER_ADMIN_KEY, else .arbiter/admin-key)')
    .option('--poll-ms <n>', 'how often to ask for progress', int, 500)
    .option('--json', 'print the job (with its answer) as one JSON object')
    .action(
      async (o: {
        ruleset: string;
        layer?: string;
        from: string;
        to: string;
        warmupHours?: number;
        api?: string;
        adminKey?: string;
        pollMs: number;
        json?: boolean;
      }) => {
        const target = await resolveReplayTarget(o);
        const headers = { authorization: `Bearer ${target.adminKey}`, 'content-type': 'application/json' };
        const body = {
          from: o.from,
          to: o.to,
          ...(o.warmupHours === undefined ? {} : { warmupHours: o.warmupHours }),
          ...(o.layer ? { scope: o.layer } : {}),
          ruleset: JSON.parse(readFileSync(o.ruleset, 'utf8')),
        };
        const started = await fetch(`${target.api}/v1/admin/rulesets/backtest`, { method: 'POST', headers, body: JSON.stringify(body) });
        const answer = (await started.json()) as Job & { message?: string };
        if (started.status !== 202) throw new Error(`backtest refused (${started.status}): ${answer.message ?? JSON.stringify(answer)}`);
        const bar = progress('backtest', Math.max(answer.progress.total, 1), !o.json && process.stderr.isTTY);
        let job: Job = answer;
        while (job.status === 'running') {
          await new Promise((r) => setTimeout(r, o.pollMs));
          const res = await fetch(`${target.api}/v1/admin/rulesets/backtest/${job.id}`, { headers });
          if (res.status !== 200) throw new Error(`polling ${job.id}: ${res.status} ${await res.text()}`);
          job = (await res.json()) as Job;
          bar.update(job.progress.done);
        }
        bar.stop();
        if (job.status === 'failed') throw new Error(`backtest ${job.id} failed: ${job.error}`);
        if (o.json || !process.stdout.isTTY) process.stdout.write(`${JSON.stringify(job)}\n`);
        else process.stdout.write(`${summary(job)}\n`);
      },
    );
}

function summary(job: Job): string {
  const r = job.result;
  const c = r.conversions;
  const statuses = (s: Record<string, number>) => `approved ${s.approved}, hold ${s.hold}, rejected ${s.rejected}`;
  const pr = (q: { precision: number | null; recall: number | null; labelled: number }) =>
    q.labelled ? `precision ${q.precision ?? '–'}, recall ${q.recall ?? '–'} (${q.labelled} labelled)` : 'no labels';
  const lines = [
    `backtest ${job.id}: ${r.range.from} → ${r.range.to}, ${r.activeVersion} (active) vs ${r.candidateVersion} (candidate)`,
    `events: ${r.events.clicks} clicks, ${r.events.conversions} conversions (+${r.events.warmup} warm-up); ${r.eventsPerSecond} events/s`,
    `conversions  active:    ${statuses(c.active)}`,
    `             candidate: ${statuses(c.candidate)}`,
    `changed: ${c.changed} ${JSON.stringify(c.transitions)}`,
    `money: payout withheld ${c.money.payoutWithheld}, released ${c.money.payoutReleased}; revenue withheld ${c.money.revenueWithheld}, released ${c.money.revenueReleased}`,
    `rejections  active: ${pr(c.quality.active)}; candidate: ${pr(c.quality.candidate)}`,
    `clicks changed: ${r.clicks.changed} (invalid ${r.clicks.active.invalid} → ${r.clicks.candidate.invalid})`,
    `by reason: ${
      Object.entries(c.byReason as Record<string, { added: number; removed: number }>)
        .map(([code, n]) => `${code} +${n.added}/-${n.removed}`)
        .join(', ') || '–'
    }`,
    `top publishers: ${
      (c.byPublisher as { id: string; changed: number }[])
        .slice(0, 5)
        .map((p) => `${p.id} ${p.changed}`)
        .join(', ') || '–'
    }`,
    `top offers: ${
      (c.byOffer as { id: string; changed: number }[])
        .slice(0, 5)
        .map((p) => `${p.id} ${p.changed}`)
        .join(', ') || '–'
    }`,
    `replayed vs recorded (same status): active ${r.recorded.activeSame}/${r.recorded.compared}, candidate ${r.recorded.candidateSame}/${r.recorded.compared}`,
  ];
  return lines.join('\n');
}
