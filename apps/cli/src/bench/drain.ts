import { DeliverPolicy, JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { Client } from 'pg';
import { Topology } from '@app/contracts';
import { DEAD_LETTER_HEADERS, bodyItems } from '@app/messaging';

/** One run's events as the drain counts them: its own offer, rows received since `since`. */
export interface DrainRun {
  offerId: string;
  since: Date;
  /** Events the gateway answered `accepted` for. */
  accepted: number;
}

/** What the engine under test can tell about itself when a drain fails. */
export interface EngineClues {
  /** The end of its log output. */
  output?(): string;
  /** Its Prometheus text (`/metrics`), for the consumers' outcome counters. */
  metricsUrl?: string;
}

export interface DrainOptions {
  /**
   * Every consumer idle and rows still missing for this long: nothing more is coming. Longer than
   * the longest retry back-off (30 s ± 25 %), although a nak'ed message counts as unacknowledged.
   */
  idleShortMs?: number;
  /** No row more for this long, whatever the consumers say: the engine is stuck, not slow. */
  stalledMs?: number;
  /** The drain gives up after this long in any case. */
  maxMs?: number;
  /**
   * How often rows are counted while the engine cannot say how far it is (no `written`, or it cannot
   * be read), and again while a claim of done (idle consumers, `written`) is not confirmed.
   */
  countEveryMs?: number;
  /** How often rows are counted, as a safety net, while `written` says the engine is still writing them. */
  safetyCountEveryMs?: number;
  /** How often `written` is read. */
  readEveryMs?: number;
  /**
   * The engine's own count of the rows it wrote since the run started (`rowsWrittenSince`); null when
   * it cannot be read. Cheap, and without the database: it says when to count, never that the run is stored.
   */
  written?: () => Promise<RowsWritten | null>;
  clues?: EngineClues;
}

const DEFAULTS = {
  idleShortMs: 60_000,
  stalledMs: 180_000,
  maxMs: 600_000,
  countEveryMs: 15_000,
  safetyCountEveryMs: 60_000,
  readEveryMs: 1_000,
};

/** The drain gave up: fewer rows are stored than events were accepted. Its message says what is missing and what the engine's streams hold. */
export class DrainFailedError extends Error {
  override readonly name = 'DrainFailedError';
}

/**
 * Waits until every accepted event of `run` is stored as a click and decided as a verdict, and
 * fails (DrainFailedError, with a diagnosis) instead of waiting for ever when the engine's
 * consumers went idle with rows missing, no row was added for `stalledMs`, or after `maxMs`.
 *
 * Counting the stored rows costs the database a scan of the run's rows, which the engine is still
 * writing (on the embedded shape, on the engine's busiest thread): it is done to confirm a claim
 * that all is there (the engine's consumers have nothing left, a request to the NATS server; or
 * its own count of rows written, `written`, has reached the accepted events), once when the claim
 * is first made and every `countEveryMs` while it stands unconfirmed; while the engine is busy,
 * every `safetyCountEveryMs` when `written` tells its progress, every `countEveryMs` when nothing
 * does; and when a failure bound is reached. Only the count decides that the run is stored.
 */
export async function awaitStored(
  jsm: JetStreamManager,
  topology: Topology,
  db: Pick<Client, 'query'>,
  run: DrainRun,
  options: DrainOptions = {},
): Promise<void> {
  const o = { ...DEFAULTS, ...options };
  const started = performance.now();
  let counted = -Infinity;
  let stored = { verdicts: -1, clicks: -1 };
  let grewAt = started;
  let readAt = -Infinity;
  let written: RowsWritten | null = null;
  // When the current claims of done began (null: not claimed at the last poll).
  let idleSince: number | null = null;
  let writtenAllSince: number | null = null;
  const countRows = async (): Promise<boolean> => {
    counted = performance.now();
    const now = await storedCounts(db, run.offerId, run.since).catch(async (e: Error) => {
      const diagnosis = await drainDiagnosis(jsm, topology, db, run, o.clues).catch((d: Error) => `(no diagnosis: ${d.message})`);
      throw new DrainFailedError(`${run.accepted} events accepted; the stored rows could not be counted: ${e.message}\n${diagnosis}`);
    });
    if (now.verdicts >= run.accepted && now.clicks >= run.accepted) return true;
    if (now.verdicts !== stored.verdicts || now.clicks !== stored.clicks) grewAt = counted;
    stored = now;
    return false;
  };
  const failure = (at: number): string | null =>
    idleSince !== null && at - idleSince >= o.idleShortMs
      ? `the engine's consumers of EVENTS and VERDICTS have had nothing pending or unacknowledged for ${seconds(at - idleSince)}`
      : at - grewAt >= o.stalledMs
        ? `no row was added for ${seconds(at - grewAt)}`
        : at - started >= o.maxMs
          ? `the drain took ${seconds(at - started)}`
          : null;
  for (;;) {
    const polled = performance.now();
    const idle = await consumersIdle(jsm, topology).catch(() => false);
    // A busy poll ends an idle stretch: idle means idle at every poll since.
    idleSince = idle ? (idleSince ?? polled) : null;
    if (o.written && polled - readAt >= o.readEveryMs) {
      readAt = polled;
      const now = await o.written().catch(() => null);
      if (now && written && (now.clicks > written.clicks || now.verdicts > written.verdicts)) grewAt = polled;
      written = now;
    }
    const writtenAll = written !== null && written.clicks >= run.accepted && written.verdicts >= run.accepted;
    writtenAllSince = writtenAll ? (writtenAllSince ?? polled) : null;
    const claimed = idleSince !== null || writtenAllSince !== null;
    const due =
      (idleSince !== null && counted < idleSince) ||
      (writtenAllSince !== null && counted < writtenAllSince) ||
      // The periodic counts start with the drain: at its start the engine has most to write.
      polled - Math.max(counted, started) >= (claimed || written === null ? o.countEveryMs : o.safetyCountEveryMs) ||
      failure(polled) !== null;
    if (due) {
      if (await countRows()) return;
      const why = failure(counted);
      if (why) {
        const missing = `${run.accepted - Math.min(run.accepted, stored.clicks)} clicks and ${run.accepted - Math.min(run.accepted, stored.verdicts)} verdicts`;
        const diagnosis = await drainDiagnosis(jsm, topology, db, run, o.clues).catch((e: Error) => `(no diagnosis: ${e.message})`);
        throw new DrainFailedError(
          `${run.accepted} events accepted, ${stored.clicks} clicks and ${stored.verdicts} verdicts stored (${missing} missing): ${why}\n${diagnosis}`,
        );
      }
    }
    // Polling no more often than a count takes keeps the load generator from taking a core the
    // engine is draining its backlog with.
    await new Promise((r) => setTimeout(r, Math.max(50, performance.now() - polled)));
  }
}

/** Rows the engine's recorders wrote, by table: `clicks` and `click_verdicts`. */
export interface RowsWritten {
  clicks: number;
  verdicts: number;
}

/** The `arbiter_rows_written_total` counters of the clicks and click_verdicts tables in a Prometheus text (0 for a series not there yet). */
export function parseRowsWritten(text: string): RowsWritten {
  const out: RowsWritten = { clicks: 0, verdicts: 0 };
  for (const m of text.matchAll(/^arbiter_rows_written_total\{[^}]*\btable="(clicks|click_verdicts)"[^}]*\}\s+(\S+)/gm)) {
    out[m[1] === 'clicks' ? 'clicks' : 'verdicts'] += Number(m[2]);
  }
  return out;
}

/**
 * Reads the engine's rows-written counters (`arbiter_rows_written_total`, summed over `urls`: the
 * `/metrics` of its recorders) now, and gives a reader of the rows written since: each read is one
 * request to each URL, none to the database. The reader gives null when a URL cannot be read (and
 * always, when none could be read now). Every row the engine writes counts, the run's or not, and
 * only rows counted in the database are the run's.
 */
export async function rowsWrittenSince(urls: readonly string[]): Promise<() => Promise<RowsWritten | null>> {
  const read = async (): Promise<RowsWritten | null> => {
    const sum: RowsWritten = { clicks: 0, verdicts: 0 };
    for (const url of urls) {
      const res = await fetch(url, { signal: AbortSignal.timeout(5_000) }).catch(() => null);
      if (!res?.ok) return null;
      const rows = parseRowsWritten(await res.text());
      sum.clicks += rows.clicks;
      sum.verdicts += rows.verdicts;
    }
    return sum;
  };
  const before = urls.length ? await read() : null;
  return async () => {
    const now = before && (await read());
    return now && before && { clicks: now.clicks - before.clicks, verdicts: now.verdicts - before.verdicts };
  };
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

/** How long the diagnosis may read the run's events and verdicts back from their streams. */
const SCAN_MS = 60_000;

/**
 * What a failed drain can tell about where the missing events went, one fact a line: the run's rows
 * in the database (also outside its time window), the run's clicks on EVENTS and verdicts on
 * VERDICTS (read back: lost before the stream, or after it), every stream's and consumer's state
 * (a stream whose oldest messages were trimmed or dropped for its limits no longer starts at 1;
 * before 2026-12-03 EVENTS and VERDICTS discarded them whether or not the recorder had read them), the dead letters, the engine's
 * outcome counters and the end of its log.
 */
export async function drainDiagnosis(
  jsm: JetStreamManager,
  topology: Topology,
  db: Pick<Client, 'query'>,
  run: DrainRun,
  clues: EngineClues = {},
): Promise<string> {
  const lines: string[] = [];
  const note = async (label: string, fact: () => Promise<string>) => {
    lines.push(`${label}: ${await fact().catch((e: Error) => `(could not be read: ${e.message})`)}`);
  };
  await note('rows of the run in the database', async () => {
    const { rows } = await db.query<{ table: string; window: number; all: number; earliest: Date | null }>(
      // Rows up to a day before the window (a clock far behind), through the ts index: on a database
      // that earlier runs filled, no index leads with offer_id.
      `SELECT 'clicks' AS table, count(*) FILTER (WHERE ts >= $2)::int AS window, count(*)::int AS all, min(ts) AS earliest
         FROM clicks WHERE offer_id = $1 AND ts >= $2::timestamptz - INTERVAL '1 day'
       UNION ALL
       SELECT 'click_verdicts', count(*) FILTER (WHERE ts >= $2)::int, count(*)::int, min(ts)
         FROM click_verdicts WHERE offer_id = $1 AND ts >= $2::timestamptz - INTERVAL '1 day'`,
      [run.offerId, run.since],
    );
    return rows
      .map(
        (r) =>
          `${r.table} ${r.window} since ${run.since.toISOString()} (${r.all} from a day before it on, earliest ${r.earliest?.toISOString() ?? 'none'})`,
      )
      .join('; ');
  });
  const js = jsm.jetstream();
  await note("the run's clicks on EVENTS", async () =>
    describeScan(
      await scanStream(
        js,
        jsm,
        topology.streams.events,
        (item) => item.kind === 'click' && item.offerId === run.offerId,
        (item) => item.id,
      ),
    ),
  );
  await note("the run's verdicts on VERDICTS", async () =>
    describeScan(
      await scanStream(
        js,
        jsm,
        topology.streams.verdicts,
        (item) => item.kind === 'click' && item.offerId === run.offerId,
        (item) => item.clickId,
      ),
    ),
  );
  for (const stream of [topology.streams.events, topology.streams.verdicts, topology.streams.replay, topology.streams.dlq]) {
    await note(`stream ${stream}`, async () => {
      const { state, config } = await jsm.streams.info(stream);
      const consumers = await (await jsm.consumers.list(stream)).next();
      // A stream's front goes when the recorders trim what every durable acknowledged (EVENTS and
      // VERDICTS, discard new), or for its limits: max_age, or max_bytes on a discard-old stream (read or not).
      const gone =
        state.first_seq > 1
          ? ` (its first ${state.first_seq - 1} messages are gone: trimmed once consumed, or discarded for its limits, max_bytes ${config.max_bytes}, discard ${config.discard}, unless deleted)`
          : '';
      const described = consumers.map(
        (c) =>
          `${c.name} (pending ${c.num_pending}, unacknowledged ${c.num_ack_pending}, redelivered ${c.num_redelivered}, ` +
          `delivered up to ${c.delivered.stream_seq}, ack floor ${c.ack_floor.stream_seq})`,
      );
      return (
        `${state.messages} messages, ${state.bytes} bytes, sequences ${state.first_seq}-${state.last_seq}${gone}, ${state.num_deleted ?? 0} deleted; ` +
        `consumers: ${described.join(', ') || 'none'}`
      );
    });
  }
  await note('dead letters', async () => {
    const letters = await readDeadLetters(js, jsm, topology.streams.dlq, 20);
    return letters.length ? letters.join(' | ') : 'none';
  });
  if (clues.metricsUrl) {
    await note('engine counters', async () => {
      const text = await (await fetch(clues.metricsUrl!, { signal: AbortSignal.timeout(10_000) })).text();
      return (
        text
          .split('\n')
          .filter((l) =>
            /^arbiter_(messages_processed_total|dlq_messages_total|dead_letters|consumer_failures_total|redelivered_total|rows_written_total|events_ingested_total)\{/.test(
              l,
            ),
          )
          .join('; ') || 'none'
      );
    });
  }
  const output = clues.output?.().trim();
  if (output) lines.push(`end of the engine's log:\n${output}`);
  return lines.join('\n');
}

interface Scan {
  items: number;
  distinct: number;
  messages: number;
  complete: boolean;
}

function describeScan(s: Scan): string {
  return `${s.items} (${s.distinct} distinct ids) in ${s.messages} messages read${s.complete ? '' : ' (stopped before the end of the stream)'}`;
}

/** Reads a stream from its first message to its last (for at most SCAN_MS) and counts the items `match` takes, batch messages item by item. */
async function scanStream(
  js: JetStreamClient,
  jsm: JetStreamManager,
  stream: string,
  match: (item: Record<string, unknown>) => boolean,
  id: (item: Record<string, unknown>) => unknown,
): Promise<Scan> {
  const scan: Scan = { items: 0, distinct: 0, messages: 0, complete: false };
  const { state } = await jsm.streams.info(stream);
  if (state.messages === 0) return { ...scan, complete: true };
  const ids = new Set<unknown>();
  const consumer = await js.consumers.get(stream, { deliver_policy: DeliverPolicy.All });
  const deadline = performance.now() + SCAN_MS;
  const decoder = new TextDecoder();
  try {
    while (!scan.complete && performance.now() < deadline) {
      let got = 0;
      for await (const m of await consumer.fetch({ max_messages: 500, expires: 2_000 })) {
        got++;
        scan.messages++;
        try {
          for (const item of bodyItems(decoder.decode(m.data)) as Record<string, unknown>[]) {
            if (item && typeof item === 'object' && match(item)) {
              scan.items++;
              ids.add(id(item));
            }
          }
        } catch {
          // Not JSON: not one of the run's.
        }
        if (m.seq >= state.last_seq || m.info.pending === 0) scan.complete = true;
        if (scan.complete || performance.now() >= deadline) break;
      }
      if (got === 0) break;
    }
  } finally {
    await consumer.delete().catch(() => undefined);
  }
  return { ...scan, distinct: ids.size };
}

/** Who parked the first `limit` dead letters, and why (their headers). */
async function readDeadLetters(js: JetStreamClient, jsm: JetStreamManager, stream: string, limit: number): Promise<string[]> {
  const { state } = await jsm.streams.info(stream);
  if (state.messages === 0) return [];
  const consumer = await js.consumers.get(stream, { deliver_policy: DeliverPolicy.All });
  const out: string[] = [`${state.messages} on ${stream}`];
  try {
    for await (const m of await consumer.fetch({ max_messages: limit, expires: 2_000 })) {
      const h = (name: string) => m.headers?.get(name) || '?';
      out.push(`${h(DEAD_LETTER_HEADERS.source)} parked ${h(DEAD_LETTER_HEADERS.eventId)}: ${h(DEAD_LETTER_HEADERS.error)}`);
      if (m.seq >= state.last_seq || out.length > limit) break;
    }
  } finally {
    await consumer.delete().catch(() => undefined);
  }
  return out;
}

function seconds(ms: number): string {
  return `${Math.round(ms / 1000)} s`;
}
