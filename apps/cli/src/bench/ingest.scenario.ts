import { JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import { Client } from 'pg';
import { Topology } from '@app/contracts';
import { connectNats, drainNats } from '@app/messaging';
import { EngineProcess, childPids, processCpuSeconds } from './engine-process';
import { Percentiles, percentiles } from './percentiles';

const PUBLIC_PREFIXES = [8, 23, 31, 45, 52, 66, 81, 91, 103, 142, 176, 185, 203];
const AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
];

export interface IngestOptions {
  /** Clicks to send; with `seconds`, the most to send. */
  events: number;
  /** Keep sending for this long (sustained load), stopping early at `events`. */
  seconds?: number;
  batch: number;
  concurrency: number;
  /** Offered events/s (paced); as fast as the gateway takes them when absent. */
  rate?: number;
  /** Distinguishes runs on one engine (each run has its own offer). */
  label?: string;
  progress?: (done: number) => void;
  /** The postmaster of the engine's database when it runs on this machine: the scenario's own queries are then measured. */
  postgresPid?: number | null;
}

export interface IngestResult {
  events: number;
  /** How long traffic was offered. */
  sendSeconds: number;
  batch: number;
  concurrency: number;
  /** Offered rate (events/s) when paced; null when sent as fast as the gateway takes them. */
  offeredRate: number | null;
  /** Accepted by the gateway (stored on JetStream) per second. */
  ingestEventsPerSecond: number;
  /** First request sent → last click and verdict row in the database, per second. */
  endToEndEventsPerSecond: number;
  endToEndSeconds: number;
  /** Receive → verdict, as the scorer recorded it. */
  decisionLatencyMs: Percentiles;
  /**
   * Paced: how late each request left against its due time (null when not paced). The load is offered
   * open-loop, so this stays near 0 unless every connection is waiting for an answer; a late request
   * means the engine was offered less than the rate (and its latency hides that wait).
   */
  sendLagMs: Percentiles | null;
  /**
   * CPU seconds the database spent on this scenario's own queries (counting the stored rows until
   * all are there, reading their latencies): load-generator work, not the engine's. Null when the
   * database is not a PostgreSQL server on this machine (`postgresPid`; the embedded one runs inside the engine).
   */
  benchQueryCpuSeconds: number | null;
}

/** Sends `events` clicks over HTTP in batches and waits until every one is decided and stored. */
export async function ingestScenario(engine: EngineProcess, options: IngestOptions): Promise<IngestResult> {
  const run = `${engine.namespace}${options.label ? `-${options.label}` : ''}`;
  const offerId = `bench-offer-${run}`;
  const publisherId = `bench-pub-${run}`;
  await seed(engine, run, offerId, publisherId);
  // One connection, its work in its own backend (no parallel workers), so that it can be told apart.
  const db = new Client({ connectionString: engine.databaseUrl, application_name: 'arbiter-bench' });
  await db.connect();
  try {
    await db.query('SET max_parallel_workers_per_gather = 0');
    const pid = (await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    const backend = options.postgresPid != null && childPids(options.postgresPid).includes(pid) ? pid : null;
    const backendCpuBefore = backend === null ? null : processCpuSeconds(backend);
    const batches = Math.ceil(options.events / options.batch);
    // Built per request (not up front): a sustained run's upper bound can be large.
    const batch = (index: number) =>
      Array.from({ length: Math.min(options.batch, options.events - index * options.batch) }, (_, j) =>
        click(offerId, publisherId, index * options.batch + j),
      );
    // The run's rows are received from now on (their ts is their receive time): the drain counts
    // read them through the ts index, not every row earlier runs left in the tables.
    const since = await runStart(db);
    const started = performance.now();
    const deadline = options.seconds ? started + options.seconds * 1000 : Infinity;
    let next = 0;
    let accepted = 0;
    const lags: number[] = [];
    await Promise.all(
      Array.from({ length: options.concurrency }, async () => {
        while (next < batches && performance.now() < deadline) {
          const index = next++;
          const body = batch(index);
          if (options.rate) {
            // Paced: batch i leaves at i·batch/rate seconds, whatever the previous answers took.
            const due = started + ((index * options.batch) / options.rate) * 1000;
            const wait = due - performance.now();
            if (wait > 0) await new Promise((r) => setTimeout(r, wait));
            lags.push(Math.max(0, performance.now() - due));
          }
          const res = await fetch(`${engine.gateway}/v1/clicks`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${engine.adminKey}` },
            body: JSON.stringify(body),
          });
          const out = (await res.json()) as { accepted?: number };
          if (res.status !== 202) throw new Error(`gateway answered ${res.status}: ${JSON.stringify(out).slice(0, 300)}`);
          accepted += out.accepted ?? 0;
          options.progress?.(accepted);
        }
      }),
    );
    const ingestSeconds = (performance.now() - started) / 1000;
    if (accepted === 0) throw new Error('the gateway accepted no events');
    const nc = await connectNats(engine.natsUrl, 'arbiter-bench-drain');
    try {
      const jsm = await jetstreamManager(nc);
      const topology = new Topology(engine.namespace);
      let counted = 0;
      for (;;) {
        const polled = performance.now();
        // Counting the stored rows costs the database a scan of the run's rows, which the engine is
        // still writing: it is done only when the engine's consumers have nothing left (a request to
        // the NATS server), or every 15 s in case they cannot say (the count decides either way).
        const idle = await consumersIdle(jsm, topology).catch(() => false);
        if (idle || polled - counted >= 15_000) {
          counted = performance.now();
          const stored = await storedCounts(db, offerId, since);
          if (stored.verdicts >= accepted && stored.clicks >= accepted) break;
          if ((performance.now() - started) / 1000 > 600)
            throw new Error(`only ${stored.verdicts} verdicts and ${stored.clicks} clicks stored after 10 minutes`);
        }
        // Polling no more often than a count takes keeps the load generator from taking a core the
        // engine is draining its backlog with.
        await new Promise((r) => setTimeout(r, Math.max(50, performance.now() - polled)));
      }
    } finally {
      await drainNats(nc);
    }
    const endToEndSeconds = (performance.now() - started) / 1000;
    const latencies = (await db.query(`SELECT latency_ms FROM click_verdicts WHERE offer_id = $1 AND ts >= $2`, [offerId, since])).rows.map(
      (r) => r.latency_ms as number,
    );
    const backendCpuAfter = backend === null ? null : processCpuSeconds(backend);
    return {
      events: accepted,
      sendSeconds: Math.round(ingestSeconds * 100) / 100,
      batch: options.batch,
      concurrency: options.concurrency,
      offeredRate: options.rate ?? null,
      ingestEventsPerSecond: Math.round(accepted / ingestSeconds),
      endToEndEventsPerSecond: Math.round(accepted / endToEndSeconds),
      endToEndSeconds: Math.round(endToEndSeconds * 100) / 100,
      decisionLatencyMs: percentiles(latencies),
      sendLagMs: options.rate ? percentiles(lags) : null,
      benchQueryCpuSeconds:
        backendCpuBefore == null || backendCpuAfter == null ? null : Math.round((backendCpuAfter - backendCpuBefore) * 100) / 100,
    };
  } finally {
    await db.end();
  }
}

async function seed(engine: EngineProcess, run: string, offerId: string, publisherId: string) {
  const advertiserId = `bench-adv-${run}`;
  for (const [path, body] of [
    ['advertisers', { id: advertiserId, name: 'Bench advertiser' }],
    ['offers', { id: offerId, advertiserId, name: 'Bench offer', payout: 2 }],
    ['publishers', { id: publisherId, name: 'Bench publisher' }],
  ] as const) {
    const res = await fetch(`${engine.api}/v1/admin/${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${engine.adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (res.status >= 300) throw new Error(`seeding ${path}: ${res.status} ${await res.text()}`);
  }
}

/**
 * Whether every durable consumer of the engine's events and verdicts has nothing waiting and nothing
 * unacknowledged. EVENTS is read before VERDICTS: the scorer acks an event after its verdict is on
 * VERDICTS, so a verdict published before the scorer's consumer read idle is seen by the second read.
 * The recorder acks after its rows are committed. A hint only: the stored rows decide.
 */
export async function consumersIdle(jsm: JetStreamManager, topology: Topology): Promise<boolean> {
  for (const stream of [topology.streams.events, topology.streams.verdicts]) {
    const consumers = await (await jsm.consumers.list(stream)).next();
    if (consumers.length === 0) return false;
    if (consumers.some((c) => c.num_pending > 0 || c.num_ack_pending > 0)) return false;
  }
  return true;
}

/** Where a run's rows start, on the database's clock, with a margin for the engine's clock being behind it. */
export async function runStart(db: Pick<Client, 'query'>): Promise<Date> {
  return (await db.query<{ since: Date }>(`SELECT now() - INTERVAL '5 minutes' AS since`)).rows[0].since;
}

/**
 * How many of a run's clicks (an offer of its own) are stored, and how many decided. Only rows
 * received since the run started: through the ts indexes, so a count costs what the run wrote,
 * not what every earlier run left in the tables (no index leads with offer_id).
 */
export async function storedCounts(db: Pick<Client, 'query'>, offerId: string, since: Date): Promise<{ verdicts: number; clicks: number }> {
  const { rows } = await db.query<{ verdicts: number; clicks: number }>(
    `SELECT (SELECT count(*) FROM click_verdicts WHERE offer_id = $1 AND ts >= $2)::int AS verdicts,
            (SELECT count(*) FROM clicks WHERE offer_id = $1 AND ts >= $2)::int AS clicks`,
    [offerId, since],
  );
  return rows[0];
}

export function click(offerId: string, publisherId: string, i: number) {
  // 20,000 distinct addresses: realistic repetition without tripping velocity rules wholesale.
  const n = (i * 2654435761) % 20_000;
  const ip = `${PUBLIC_PREFIXES[n % PUBLIC_PREFIXES.length]}.${(n >> 4) & 255}.${(n >> 8) & 255}.${(n % 250) + 1}`;
  return { offerId, publisherId, subId: `s${i % 50}`, ip, userAgent: AGENTS[i % AGENTS.length] };
}
