import { Pool, PoolClient, QueryResultRow, types } from 'pg';

// numeric → JS number: amounts are at most 1e12 with 4 decimals, well inside double precision.
types.setTypeParser(types.builtins.NUMERIC, (v) => Number(v));
// bigint counts (count(*)) → number; no Arbiter counter approaches 2^53.
types.setTypeParser(types.builtins.INT8, (v) => Number(v));

export interface PoolOptions {
  url: string;
  max: number;
  applicationName: string;
  /** A statement running longer than this fails ("Query read timeout"); 60 s unless set. */
  queryTimeoutMs?: number;
}

/** A `pg` pool that fails fast instead of hanging when the database is unreachable or stuck. */
export function createPool(options: PoolOptions): Pool {
  const pool = new Pool({
    connectionString: options.url,
    max: options.max,
    application_name: options.applicationName,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    // A statement that runs this long is stuck; the caller naks and the message is retried.
    query_timeout: options.queryTimeoutMs ?? 60_000,
  });
  // An idle client losing its connection is reported here; the pool replaces it on next use.
  pool.on('error', () => undefined);
  return pool;
}

/**
 * Runs `work` in a transaction on one client; rolls back on any error. `begin` opens it: e.g.
 * `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY` for several reads that must agree (one snapshot).
 */
export async function inTransaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>, begin = 'BEGIN'): Promise<T> {
  const client = await pool.connect();
  let failure: Error | undefined;
  // A checked-out client is no longer watched by the pool: if the database goes away between two
  // statements, the client emits 'error', and without a listener that kills the process (the
  // recorder died this way when PostgreSQL restarted). Keep the error; the next statement fails,
  // the caller naks, and the client is discarded below.
  const onError = (e: Error) => (failure ??= e);
  client.on('error', onError);
  try {
    await client.query(begin);
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (e) {
    failure = e as Error;
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    // A client that failed may have lost its connection: discard it rather than pool it.
    client.off('error', onError);
    client.release(failure);
  }
}

export type Queryable = Pick<Pool, 'query'> | Pick<PoolClient, 'query'>;
export type Row = QueryResultRow;
