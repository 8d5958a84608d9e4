/**
 * Fault-injection harness, part 3: accounting of accepted events, and the report.
 *
 *   const row = await settleAndAccount(cluster, 'scorer SIGKILL', sender);  // waits until settled, then counts
 *   expect(row).toMatchObject({ lost: 0, duplicated: 0 });
 *   expect(row.published).toBe(row.conversionsDecided);
 *   appendReport(row);                                                        // one JSON line in the report file
 *
 * For the accepted ids: `stored` (clicks / conversions rows), `decided` (click_verdicts rows for
 * clicks, decisions rows for conversions), `published` (conversions with a decision on the
 * DECISIONS stream, read from its start), `lost` (accepted but not stored or not decided, or a
 * decided conversion never published), `duplicated` (more than one row for an id in any table,
 * or the same decision revision published twice). Click verdicts are not published (only
 * conversion decisions are), so `published` is compared with `conversionsDecided`.
 *
 * The report file is `$FAULTS_REPORT`, else `test/faults/.report.jsonl`; `printReport()` renders it
 * as a markdown table (the jest globalTeardown of `npm run test:faults` does).
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { MsgHdrs, NatsConnection } from '@nats-io/nats-core';
import type { Pool } from 'pg';
import type { Topology } from '@app/contracts';

export const REPORT_FILE = process.env.FAULTS_REPORT ?? resolve(__dirname, '..', '.report.jsonl');

export interface FaultRow {
  fault: string;
  sent: number;
  accepted: number;
  stored: number;
  decided: number;
  conversionsDecided: number;
  published: number;
  lost: number;
  duplicated: number;
  seconds?: number;
}

export interface Accounting extends FaultRow {
  /** Up to 10 ids of each problem, for failure messages. */
  examples: { notStored: string[]; notDecided: string[]; notPublished: string[]; duplicated: string[] };
}

/** What the harness needs of a cluster (a `Cluster`, or anything pointing at the same database and NATS). */
export interface AccountingTarget {
  db: Pool;
  nc: NatsConnection;
  topology: Topology;
  outstanding?(): Promise<number>;
}

export interface AcceptedEvents {
  sent: number;
  accepted: { click: Set<string>; conversion: Set<string> };
}

async function countsById(db: Pool, table: string, column: string, ids: string[]): Promise<Map<string, number>> {
  const { rows } = await db.query<{ id: string; n: string }>(
    `SELECT ${column} AS id, count(*) AS n FROM ${table} WHERE ${column} = ANY($1::text[]) GROUP BY ${column}`,
    [ids],
  );
  return new Map(rows.map((r) => [r.id, Number(r.n)]));
}

export interface StreamMessage {
  subject: string;
  seq: number;
  data: Uint8Array;
  headers?: MsgHdrs;
  json<T = any>(): T;
}

/** Every message of a stream, from its start (an ordered consumer; nothing is left behind on the server). */
export async function readStream(nc: NatsConnection, stream: string, filterSubject?: string): Promise<StreamMessage[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream);
  if (info.state.messages === 0) return [];
  const consumer = await jetstream(nc).consumers.get(stream, filterSubject ? { filter_subjects: filterSubject } : {});
  const out: StreamMessage[] = [];
  for (;;) {
    let got = 0;
    let pending = 0;
    for await (const m of await consumer.fetch({ max_messages: 1000, expires: 1000 })) {
      out.push({ subject: m.subject, seq: m.seq, data: m.data, headers: m.headers, json: () => m.json() });
      got++;
      pending = m.info.pending;
    }
    if (got === 0 || pending === 0) break;
  }
  // An ordered consumer is ephemeral but lingers a while; it must not count as outstanding work.
  await consumer.delete().catch(() => undefined);
  return out;
}

/** Counts what became of the accepted events, now (see the file's header). */
export async function account(target: AccountingTarget, fault: string, events: AcceptedEvents): Promise<Accounting> {
  const clicks = [...events.accepted.click];
  const conversions = [...events.accepted.conversion];
  const [storedClicks, verdicts, storedConversions, decisions] = await Promise.all([
    countsById(target.db, 'clicks', 'id', clicks),
    countsById(target.db, 'click_verdicts', 'click_id', clicks),
    countsById(target.db, 'conversions', 'id', conversions),
    countsById(target.db, 'decisions', 'conversion_id', conversions),
  ]);
  const accepted = new Set(conversions);
  const published = new Map<string, Map<number, number>>();
  for (const m of await readStream(target.nc, target.topology.streams.decisions)) {
    const d = m.json<{ conversionId: string; revision: number }>();
    if (!accepted.has(d.conversionId)) continue;
    const revisions = published.get(d.conversionId) ?? new Map<number, number>();
    revisions.set(d.revision, (revisions.get(d.revision) ?? 0) + 1);
    published.set(d.conversionId, revisions);
  }

  const notStored = [...clicks.filter((id) => !storedClicks.has(id)), ...conversions.filter((id) => !storedConversions.has(id))];
  const notDecided = [...clicks.filter((id) => !verdicts.has(id)), ...conversions.filter((id) => !decisions.has(id))];
  const notPublished = conversions.filter((id) => decisions.has(id) && !published.has(id));
  // Each duplicate is named with where it was seen twice, so that a failing run says which step repeated.
  const tables = { clicks: storedClicks, click_verdicts: verdicts, conversions: storedConversions, decisions } as const;
  const duplicated = [
    ...Object.entries(tables).flatMap(([table, m]) => [...m].filter(([, n]) => n > 1).map(([id, n]) => `${id} (${table} ×${n})`)),
    ...[...published].flatMap(([id, revisions]) =>
      [...revisions].filter(([, n]) => n > 1).map(([revision, n]) => `${id} (published revision ${revision} ×${n})`),
    ),
  ];
  const lost = new Set([...notStored, ...notDecided, ...notPublished]);
  const dup = new Set(duplicated.map((d) => d.slice(0, d.indexOf(' '))));
  return {
    fault,
    sent: events.sent,
    accepted: clicks.length + conversions.length,
    stored: storedClicks.size + storedConversions.size,
    decided: verdicts.size + decisions.size,
    conversionsDecided: decisions.size,
    published: published.size,
    lost: lost.size,
    duplicated: dup.size,
    examples: {
      notStored: notStored.slice(0, 10),
      notDecided: notDecided.slice(0, 10),
      notPublished: notPublished.slice(0, 10),
      duplicated: duplicated.slice(0, 10),
    },
  };
}

/**
 * Waits until every accepted event is stored, decided and published and the consumers have
 * nothing outstanding (or `timeoutMs` passes: the accounting then shows what is missing), then
 * counts once more after a short quiet period so that late duplicates are seen too.
 */
export async function settleAndAccount(
  target: AccountingTarget,
  fault: string,
  events: AcceptedEvents,
  o: { timeoutMs?: number; quietMs?: number } = {},
): Promise<Accounting> {
  const until = Date.now() + (o.timeoutMs ?? 90_000);
  for (;;) {
    const a = await account(target, fault, events);
    const outstanding = target.outstanding ? await target.outstanding().catch(() => -1) : 0;
    const done = a.stored === a.accepted && a.decided === a.accepted && a.published === a.conversionsDecided && outstanding === 0;
    if (done || Date.now() > until) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  await new Promise((r) => setTimeout(r, o.quietMs ?? 2_000));
  return account(target, fault, events);
}

/** Appends a row to the report file (one JSON object a line). */
export function appendReport(row: FaultRow): void {
  const { fault, sent, accepted, stored, decided, conversionsDecided, published, lost, duplicated, seconds } = row;
  appendFileSync(
    REPORT_FILE,
    JSON.stringify({ fault, sent, accepted, stored, decided, conversionsDecided, published, lost, duplicated, seconds }) + '\n',
  );
}

/** The report file as a markdown table (empty string when there is none). */
export function reportTable(file = REPORT_FILE): string {
  if (!existsSync(file)) return '';
  const rows = readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as FaultRow);
  if (!rows.length) return '';
  const cols: (keyof FaultRow)[] = [
    'fault',
    'sent',
    'accepted',
    'stored',
    'decided',
    'conversionsDecided',
    'published',
    'lost',
    'duplicated',
    'seconds',
  ];
  const line = (cells: unknown[]) => `| ${cells.map((c) => (c === undefined ? '' : String(c))).join(' | ')} |`;
  return [line(cols), line(cols.map(() => '---')), ...rows.map((r) => line(cols.map((c) => r[c])))].join('\n');
}

/**
 * Every fault's verdict: the row goes into the report (with how long the fault took), then every
 * accepted event must be stored once, decided once and, for conversions, published once.
 */
export function reportExactlyOnce(row: Accounting, expected: { accepted: number; startedAt: number }): void {
  row.seconds = Math.round((Date.now() - expected.startedAt) / 1000);
  appendReport(row);
  expect(row.examples).toEqual({ notStored: [], notDecided: [], notPublished: [], duplicated: [] });
  expect(row.accepted).toBe(expected.accepted);
  expect(row).toMatchObject({ lost: 0, duplicated: 0, stored: row.accepted, decided: row.accepted });
  expect(row.published).toBe(row.conversionsDecided);
}
