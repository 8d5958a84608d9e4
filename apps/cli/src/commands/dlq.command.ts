import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { loadConfig } from '@app/config';
import { int } from '../output/options';

interface Connection {
  api?: string;
  key?: string;
}

interface Letter {
  id: string;
  at: string;
  consumer: string | null;
  subject: string | null;
  eventId: string | null;
  error: string | null;
  deliveries: number | null;
  replays: number;
}

/**
 * The engine's admin API (where dead letters are read and every replay is audited): its URL and an
 * admin key — ARBITER_ADMIN_KEY, or the one `arbiter start` keeps in the data directory.
 */
function target(o: Connection): { api: string; key: string } {
  const config = loadConfig(process.env);
  const api = (o.api ?? `http://127.0.0.1:${config.API_PORT}`).replace(/\/+$/, '');
  const file = resolve(config.ARBITER_DATA_DIR, 'admin-key');
  const key = o.key ?? config.ARBITER_ADMIN_KEY ?? (existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined);
  if (!key) throw new Error(`no admin key: set ARBITER_ADMIN_KEY, pass --key, or run from where \`arbiter start\` keeps ${file}`);
  return { api, key };
}

async function call(o: Connection, method: 'GET' | 'POST', path: string, body?: unknown): Promise<any> {
  const { api, key } = target(o);
  let res: Response;
  try {
    res = await fetch(`${api}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch (e) {
    throw new Error(`cannot reach the API at ${api} (${(e as Error).cause ?? (e as Error).message}); is the engine running? (--api)`);
  }
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 500)}`);
  return JSON.parse(text);
}

const print = (v: unknown): void => void process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);

function table(items: Letter[]): string {
  const rows = items.map((l) => [
    l.id,
    l.at.replace('T', ' ').slice(0, 19),
    l.consumer ?? '?',
    String(l.deliveries ?? ''),
    String(l.replays),
    l.eventId ?? '',
    (l.error ?? '').slice(0, 100),
  ]);
  const head = ['ID', 'DEAD-LETTERED (UTC)', 'CONSUMER', 'DELIVERIES', 'REPLAYS', 'EVENT', 'ERROR'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [head, ...rows].map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')).join('\n');
}

const criteria = (cmd: Command): Command =>
  cmd
    .option(
      '--consumer <durable>',
      'only what this consumer parked (recorder-events, recorder-verdicts, scorer-p0, notifier-decisions, notifier-webhooks, …)',
    )
    .option('--from <time>', 'dead-lettered at or after (ISO-8601)')
    .option('--to <time>', 'dead-lettered before (ISO-8601)')
    .addOption(new Option('--stream <stream>', 'one dead-letter stream').choices(['DLQ', 'WEBHOOK_DLQ']))
    .option('--api <url>', 'the engine’s API (default http://127.0.0.1:$API_PORT)')
    .option('--key <key>', 'an admin key (default $ARBITER_ADMIN_KEY, or <data dir>/admin-key)')
    .option('--json', 'print JSON');

interface Criteria extends Connection {
  consumer?: string;
  from?: string;
  to?: string;
  stream?: string;
  json?: boolean;
}

function query(o: Criteria, limit: number): string {
  const q = new URLSearchParams({ limit: String(limit) });
  for (const k of ['consumer', 'from', 'to', 'stream'] as const) if (o[k]) q.set(k, o[k]!);
  return q.toString();
}

export function dlqCommand(): Command {
  const dlq = new Command('dlq').description(
    'see and replay the dead letters of every stream (events, verdicts, decisions, webhooks) through a running engine’s admin API',
  );
  criteria(dlq.command('list'))
    .description('dead letters, oldest first: id, when, which consumer parked it, how often it was tried, and why (no payloads)')
    .option('--limit <n>', 'at most this many (≤ 1000)', int, 100)
    .action(async (o: Criteria & { limit: number }) => {
      const page = (await call(o, 'GET', `/v1/admin/dead-letters?${query(o, o.limit)}`)) as { items: Letter[]; more: boolean };
      if (o.json) return print(page);
      if (!page.items.length) return void process.stdout.write('no dead letters\n');
      process.stdout.write(`${table(page.items)}\n`);
      process.stdout.write(`${page.items.length} dead letter(s)${page.more ? `; more match (--limit)` : ''}\n`);
    });
  criteria(dlq.command('replay'))
    .description(
      'hand dead letters back to the consumer that parked them, by consumer, time range or ids; audited, and a dead letter is replayed once',
    )
    .option('--id <id...>', 'dead letters by id, as `dlq list` shows them (DLQ:42 WEBHOOK_DLQ:7)')
    .option('--all', 'every dead letter (needed when no other criterion is given)')
    .action(async (o: Criteria & { id?: string[]; all?: boolean }) => {
      const body: Record<string, unknown> = {};
      for (const k of ['consumer', 'from', 'to', 'stream'] as const) if (o[k]) body[k] = o[k];
      if (o.id) body.ids = o.id;
      if (o.all) body.all = true;
      if (!Object.keys(body).length) throw new Error('say what to replay: --consumer, --from/--to, --id, --stream or --all');
      const r = await call(o, 'POST', '/v1/admin/dead-letters/replay', body);
      if (o.json) return print(r);
      const by = Object.entries(r.byConsumer as Record<string, number>).map(([c, n]) => `${c} ${n}`);
      process.stdout.write(`replayed ${r.replayed}${by.length ? ` (${by.join(', ')})` : ''}; audit ${r.id}\n`);
      if (r.missing.length) process.stdout.write(`not found (already replayed?): ${r.missing.join(' ')}\n`);
      if (r.skipped.length) process.stdout.write(`left in place (no consumer of this engine takes them): ${r.skipped.join(' ')}\n`);
    });
  dlq
    .command('history')
    .description('the audit of replays, newest first')
    .option('--limit <n>', 'at most this many (≤ 500)', int, 20)
    .option('--api <url>', 'the engine’s API (default http://127.0.0.1:$API_PORT)')
    .option('--key <key>', 'an admin key (default $ARBITER_ADMIN_KEY, or <data dir>/admin-key)')
    .action(async (o: Connection & { limit: number }) => print(await call(o, 'GET', `/v1/admin/dead-letters/replays?limit=${o.limit}`)));
  return dlq;
}
