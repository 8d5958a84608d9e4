/**
 * Plain PostgreSQL's KPI rollups through a minutely stage (migration 0024, issue 19). The database
 * itself records which minutes of a raw table changed: a statement trigger on `click_verdicts` and
 * `decisions` adds the distinct minutes a statement inserted or updated (a decision's revision) to
 * `rollup_dirty_minutes`, in the statement that wrote the rows — whichever process wrote them, by
 * `COPY`, `INSERT … ON CONFLICT`, the ledger or a decision's revision. Any recorder's refresh
 * claims them (deletes them in its own transaction: a refresh that fails or dies leaves them
 * dirty), recomputes those minutes of the stage from the raw rows, the hours they fall in from the
 * stage and the days from the hours. A refresh reads what was written since the last one, not the
 * current hour.
 *
 * Unlike migration 0018's stage (dropped by 0022), no minute depends on the recorder that wrote
 * it: a recorder that stops before its next refresh leaves its minutes for the others, and a
 * recorder of an older version (a rolling upgrade) has its writes marked by the same trigger.
 */
import { ChurnVacuum } from './churn-vacuum';
import type { Queryable } from './database';
import { minutelyStage, uniqueIndex } from './dialect';
import { Rollup, aggregateSelect } from './rollups';

/** The table the trigger records changed minutes in: the raw table's name and the minute's start. */
export const DIRTY_MINUTES = 'rollup_dirty_minutes';

const ORIGIN = `TIMESTAMPTZ '2000-01-01 00:00:00+00'`;
const bucket = (interval: string, column: string) => `date_bin('${interval}', ${column}, ${ORIGIN})`;

/**
 * The stage, the dirty-minutes table and the triggers (migration 0024), for the hourly rollups given.
 * The trigger inserts the few distinct minutes of a statement without a key: inserts of several
 * recorders never wait on each other or on a refresh that is claiming minutes (with a key, an
 * insert of a minute a refresh has deleted and not committed waits for that refresh). A delete is
 * not marked: pruning raw rows keeps their KPIs, as TimescaleDB's retention keeps its aggregates.
 */
export function stagedRollupDdl(hourly: readonly Rollup[]): string[] {
  const sources = [...new Set(hourly.map((r) => r.source))];
  return [
    // `through`: NULL for the one minute; for a range to rebuild from the raw rows (a backfill), its
    // end (exclusive).
    `CREATE TABLE ${DIRTY_MINUTES} (
       source text NOT NULL,
       minute timestamptz NOT NULL,
       through timestamptz
     ) WITH (autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_scale_factor = 0)`,
    `CREATE FUNCTION rollup_mark_dirty_minutes() RETURNS trigger LANGUAGE plpgsql AS $fn$
     BEGIN
       IF TG_OP = 'INSERT' THEN
         INSERT INTO ${DIRTY_MINUTES} (source, minute)
           SELECT DISTINCT TG_TABLE_NAME, ${bucket('1 minute', 'ts')} FROM new_rows;
       ELSE
         INSERT INTO ${DIRTY_MINUTES} (source, minute)
           SELECT TG_TABLE_NAME, m FROM (SELECT ${bucket('1 minute', 'ts')} FROM new_rows
                                         UNION SELECT ${bucket('1 minute', 'ts')} FROM old_rows) AS changed (m);
       END IF;
       RETURN NULL;
     END
     $fn$`,
    ...sources.flatMap((t) => [
      // A trigger with transition tables fires for one event only.
      `CREATE TRIGGER ${t}_dirty_minutes_insert AFTER INSERT ON ${t} REFERENCING NEW TABLE AS new_rows
         FOR EACH STATEMENT EXECUTE FUNCTION rollup_mark_dirty_minutes()`,
      `CREATE TRIGGER ${t}_dirty_minutes_update AFTER UPDATE ON ${t} REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
         FOR EACH STATEMENT EXECUTE FUNCTION rollup_mark_dirty_minutes()`,
    ]),
    ...hourly.flatMap((r) => {
      const name = minutelyStage(r);
      return [`CREATE TABLE ${name} AS ${minutesSelect(r)} WITH NO DATA`, uniqueIndex({ ...r, name })];
    }),
  ];
}

/**
 * Marker rows claimed (deleted) after which a refresher vacuums the dirty-minutes table itself. The
 * table takes a row or two per writing statement and a refresh deletes them: without a vacuum
 * (autovacuum off, or held back) it only grows, and every claim reads all of it.
 */
export const VACUUM_DIRTY_AFTER = 10_000;

/** The dirty-minutes table, vacuumed by its refresher every VACUUM_DIRTY_AFTER claimed rows. */
export function dirtyMinutesVacuum(pool: Queryable): ChurnVacuum {
  return new ChurnVacuum(pool, DIRTY_MINUTES, VACUUM_DIRTY_AFTER);
}

/** What one staged refresh recomputed for a raw table. */
export interface StagedRefreshReport {
  source: string;
  /** Rows claimed from the dirty-minutes table (deleted: dead until vacuumed). */
  claimed: number;
  /** Minutes claimed one by one and recomputed from the raw rows. */
  minutes: number;
  /** Dirty minutes over the refresh's share, put back for the next (the oldest). */
  pendingMinutes: number;
  /** Hours rebuilt from the raw rows whole (a backfill's range), newest first. */
  rebuiltHours: number;
  /** Hours of a backfill's range left for the next refresh (its time budget ran out). */
  pendingHours: number;
  /** Hours and days re-summed. */
  hours: number;
  days: number;
}

/**
 * Refreshes an hourly rollup and the daily one on it through the stage; run it in one transaction
 * (`client` inside it): a reader never sees a bucket deleted and not yet rewritten, and a failure
 * leaves the claimed minutes dirty. Refreshers of several recorders take turns per rollup (the
 * advisory locks the refresh from the raw rows takes too, hourly then daily).
 *
 * A range to rebuild (migration 0024's backfill of the history, a rebuild a migration asked for
 * in `rollup_backfills`) goes an hour at a time, newest first, for at most `budgetMs` per refresh;
 * the rest stays dirty. Until its hours are rebuilt they keep the figures they had and are not
 * re-summed from the stage, which does not hold them yet.
 */
export async function refreshStaged(
  client: Queryable,
  hourly: Rollup,
  daily: Rollup,
  options: { budgetMs?: number; maxMinutes?: number } = {},
): Promise<StagedRefreshReport> {
  const started = Date.now();
  const stage = minutelyStage(hourly);
  const source = hourly.source;
  // UTC: \`timestamptz + interval\` with days in it counts them in the session's TimeZone (a UTC day
  // holding a DST change would be 23 or 25 hours there). The buckets (\`date_bin\` from a UTC
  // origin) and the day windows below do not depend on it; this keeps any later arithmetic so.
  await client.query(`SET LOCAL timezone = 'UTC'`);
  for (const r of [hourly, daily]) await client.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`arbiter-rollup:${r.name}`]);
  const asked = await client.query<{ since: Date | null }>(
    `WITH served AS (DELETE FROM rollup_backfills WHERE rollup IN ($1, $2) RETURNING since) SELECT min(since) AS since FROM served`,
    [hourly.name, daily.name],
  );
  // The claim: rows committed before this statement; the raw rows they mark were committed with
  // them, so the reads below (later statements) see them. Rows committed since stay for the next.
  const claimed = await client.query<{ minute: number; through: number | null }>(
    `DELETE FROM ${DIRTY_MINUTES} WHERE source = $1 RETURNING ${epochMs('minute')} AS minute, ${epochMs('through')} AS through`,
    [source],
  );
  // The range to rebuild, in whole hours: [from, to).
  let from = Infinity;
  let to = -Infinity;
  for (const c of claimed.rows)
    if (c.through !== null) {
      from = Math.min(from, c.minute);
      to = Math.max(to, c.through);
    }
  if (asked.rows[0].since) {
    from = Math.min(from, asked.rows[0].since.getTime());
    to = Infinity;
  }
  if (to === Infinity) {
    const { rows } = await client.query<{ last: number | null }>(`SELECT ${epochMs(`max(${hourly.timeColumn})`)} AS last FROM ${source}`);
    to = (rows[0].last ?? from) + 1;
  }
  from = floorTo(from, HOUR);
  to = Math.ceil(to / HOUR) * HOUR;
  const inRange = (t: number) => t >= from && t < to;

  const dirty = distinct(claimed.rows.filter((c) => c.through === null).map((c) => c.minute)).filter((m) => !inRange(m));
  // At most maxMinutes, the newest: a backlog (refreshes that failed for a while, an UPDATE of a
  // whole table) is taken over several refreshes, none running into the pool's query timeout.
  const minutes = dirty.slice(-(options.maxMinutes ?? MAX_MINUTES));
  const left = dirty.slice(0, dirty.length - minutes.length);
  const report: StagedRefreshReport = {
    source,
    claimed: claimed.rows.length,
    minutes: minutes.length,
    pendingMinutes: left.length,
    rebuiltHours: 0,
    pendingHours: 0,
    hours: 0,
    days: 0,
  };
  const rebuilt: number[] = [];
  if (minutes.length === 0 && !(from < to)) return report;

  // Time ranges read through the ts indexes: on a table never analysed (autovacuum off), the
  // planner guessing that a range holds a third of the table would scan all of it. No JIT: the
  // planner cannot see how few rows a dirty minute holds, and compiling the aggregate's expressions
  // cost 12-30 ms of CPU per statement, more than a routine refresh's statements take to run.
  await client.query(`SET LOCAL enable_seqscan = off; SET LOCAL jit = off`);
  const at = (ms: number[]) => ms.map(pgTime);
  if (left.length)
    await client.query(`INSERT INTO ${DIRTY_MINUTES} (source, minute) SELECT $1, unnest($2::timestamptz[])`, [source, at(left)]);
  for (let i = 0; i < minutes.length; i += MINUTES_PER_STATEMENT) {
    const some = at(minutes.slice(i, i + MINUTES_PER_STATEMENT));
    await client.query(`DELETE FROM ${stage} WHERE bucket = ANY ($1::timestamptz[])`, [some]);
    await client.query(
      `INSERT INTO ${stage} ${minutesSelect(
        hourly,
        `JOIN unnest($1::timestamptz[]) AS dirty (minute) ON ${hourly.timeColumn} >= dirty.minute AND ${hourly.timeColumn} < dirty.minute + INTERVAL '1 minute'`,
      )}`,
      [some],
    );
  }
  // The hours after the current one hold only rows a sender dated ahead (a click's \`ts\` is the
  // sender's, up to 9999): rebuilt at once from their rows, which are few, rather than walked an
  // hour at a time from the newest, which would hold the present back until the walk came down.
  const present = Math.max(from, floorTo(Date.now(), HOUR) + HOUR);
  if (present < to) {
    const ahead = at([present, to]);
    await client.query(`DELETE FROM ${stage} WHERE bucket >= $1::timestamptz AND bucket < $2::timestamptz`, ahead);
    await client.query(
      `INSERT INTO ${stage} ${minutesSelect(hourly, `WHERE ${hourly.timeColumn} >= $1::timestamptz AND ${hourly.timeColumn} < $2::timestamptz`)}`,
      ahead,
    );
    // The hours that hold rows now, and those the rollup had (to be emptied).
    const { rows } = await client.query<{ hour: number }>(
      `SELECT ${epochMs('hour')} AS hour FROM (
         SELECT ${bucket('1 hour', 'bucket')} FROM ${stage} WHERE bucket >= $1::timestamptz AND bucket < $2::timestamptz
         UNION SELECT bucket FROM ${hourly.name} WHERE bucket >= $1::timestamptz AND bucket < $2::timestamptz) AS held (hour)`,
      ahead,
    );
    rebuilt.push(...rows.map((r) => r.hour));
  }
  // The rest, newest first, from the current hour.
  let end = Math.min(to, present);
  for (let walked = 0; end > from && (walked++ === 0 || Date.now() - started < (options.budgetMs ?? REBUILD_BUDGET_MS)); end -= HOUR) {
    const hour = end - HOUR;
    await client.query(`DELETE FROM ${stage} WHERE bucket >= $1::timestamptz AND bucket < $2::timestamptz`, at([hour, end]));
    // A statement per ten minutes of rows: none runs into the pool's query timeout at full rate.
    for (let t = hour; t < end; t += REBUILD_PIECE_MS)
      await client.query(
        `INSERT INTO ${stage} ${minutesSelect(hourly, `WHERE ${hourly.timeColumn} >= $1::timestamptz AND ${hourly.timeColumn} < $2::timestamptz`)}`,
        at([t, t + REBUILD_PIECE_MS]),
      );
    rebuilt.push(hour);
  }
  if (end > from) {
    await client.query(`INSERT INTO ${DIRTY_MINUTES} (source, minute, through) VALUES ($1, $2, $3)`, [source, ...at([from, end])]);
    report.pendingHours = (end - from) / HOUR;
  }
  report.rebuiltHours = rebuilt.length;

  const hours = distinct([...minutes.map((m) => floorTo(m, HOUR)), ...rebuilt]);
  const days = distinct(hours.map((h) => floorTo(h, DAY)));
  report.hours = hours.length;
  report.days = days.length;
  await resum(client, hourly, stage, '1 hour', '1 hour', at(hours));
  await resum(client, daily, hourly.name, '1 day', '24 hours', at(days));
  return report;
}

const HOUR = 3600_000;
const DAY = 86_400_000;
// A backfill's share of one refresh, and its statements' size (see refreshStaged).
const REBUILD_BUDGET_MS = 10_000;
const REBUILD_PIECE_MS = 600_000;
// The single minutes' share of one refresh (4 hours at 900,000 clicks an hour: about 9 s), and its
// statements' size.
const MAX_MINUTES = 240;
const MINUTES_PER_STATEMENT = 60;

/**
 * Rewrites the buckets (`interval` long, starting at `buckets`) of a rollup from the finer rollup
 * under them: every measure is a count or a sum. `span` is the bucket's length in absolute units
 * (hours, not days: a day added to a timestamptz depends on the session's TimeZone).
 */
async function resum(client: Queryable, r: Rollup, finer: string, interval: string, span: string, buckets: string[]): Promise<void> {
  if (buckets.length === 0) return;
  await client.query(`DELETE FROM ${r.name} WHERE bucket = ANY ($1::timestamptz[])`, [buckets]);
  const where = `JOIN unnest($1::timestamptz[]) AS dirty (start) ON bucket >= dirty.start AND bucket < dirty.start + INTERVAL '${span}'`;
  await client.query(
    `INSERT INTO ${r.name} ${aggregateSelect(r, { interval, source: finer, timeColumn: 'bucket', summed: true, bucket, where })}`,
    [buckets],
  );
}

/** An hourly rollup's measures in one-minute buckets of its raw table. */
function minutesSelect(r: Rollup, where = ''): string {
  return aggregateSelect(r, { interval: '1 minute', source: r.source, timeColumn: r.timeColumn, summed: false, bucket, where });
}

/** A time as PostgreSQL reads it, after the year 9999 too (`toISOString` writes `+010000-…`, which it rejects). */
const pgTime = (ms: number) => new Date(ms).toISOString().replace(/^\+0*/, '');
/** A timestamptz column as milliseconds since the epoch (a number, whatever the year). */
const epochMs = (column: string) => `(extract(epoch FROM ${column}) * 1000)::float8`;
const floorTo = (t: number, step: number) => Math.floor(t / step) * step;
const distinct = (values: number[]) => [...new Set(values)].sort((a, b) => a - b);
