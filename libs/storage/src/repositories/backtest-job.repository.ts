import type { Pool } from 'pg';

export interface BacktestJob {
  id: string;
  status: 'running' | 'done' | 'failed';
  request: Record<string, unknown>;
  progress: { done: number; total: number };
  result: Record<string, unknown> | null;
  error: string | null;
  createdBy: { keyId: string | null; label: string | null };
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

// A running job writes its progress at least this often; one silent for longer lost its process.
const STALE_SECONDS = 120;

/** Backtest jobs: their request, progress and answer, readable from any API instance. */
export class BacktestJobRepository {
  constructor(private readonly pool: Pool) {}

  async create(id: string, request: unknown, total: number, createdBy: string | null): Promise<void> {
    await this.pool.query(
      `INSERT INTO backtest_jobs (id, status, request, total, created_by, created_by_label)
       VALUES ($1, 'running', $2, $3, $4, (SELECT label FROM api_keys WHERE id = $4))`,
      [id, JSON.stringify(request), total, createdBy],
    );
  }

  async progress(id: string, done: number): Promise<void> {
    await this.pool.query(`UPDATE backtest_jobs SET done = $2, updated_at = now() WHERE id = $1 AND status = 'running'`, [id, done]);
  }

  async finish(id: string, result: unknown): Promise<void> {
    await this.pool.query(
      `UPDATE backtest_jobs SET status = 'done', result = $2, done = total, updated_at = now(), finished_at = now() WHERE id = $1`,
      [id, JSON.stringify(result)],
    );
  }

  async fail(id: string, error: string): Promise<void> {
    await this.pool.query(`UPDATE backtest_jobs SET status = 'failed', error = $2, updated_at = now(), finished_at = now() WHERE id = $1`, [
      id,
      error,
    ]);
  }

  async find(id: string): Promise<BacktestJob | null> {
    const { rows } = await this.pool.query(`${SELECT} WHERE id = $1`, [id]);
    return rows.length ? toJob(rows[0]) : null;
  }

  /** Newest first, without results (they can be large). */
  async list(limit: number): Promise<BacktestJob[]> {
    const { rows } = await this.pool.query(`${SELECT.replace('result,', 'NULL AS result,')} ORDER BY created_at DESC LIMIT $1`, [limit]);
    return rows.map(toJob);
  }

  /** Jobs still running, to refuse more than the API runs at once. */
  async running(): Promise<number> {
    const { rows } = await this.pool.query(
      `SELECT count(*) AS n FROM backtest_jobs WHERE status = 'running' AND updated_at > now() - make_interval(secs => $1)`,
      [STALE_SECONDS],
    );
    return Number(rows[0].n);
  }
}

// A job whose process died mid-run reads as failed, not as running for ever.
const SELECT = `
  SELECT id, request, done, total, result, created_by, created_by_label, created_at, updated_at, finished_at,
         CASE WHEN status = 'running' AND updated_at < now() - make_interval(secs => ${STALE_SECONDS}) THEN 'failed' ELSE status END AS status,
         CASE WHEN status = 'running' AND updated_at < now() - make_interval(secs => ${STALE_SECONDS})
              THEN 'interrupted: the API instance running it stopped' ELSE error END AS error
    FROM backtest_jobs`;

function toJob(r: Record<string, any>): BacktestJob {
  return {
    id: r.id,
    status: r.status,
    request: r.request,
    progress: { done: Number(r.done), total: Number(r.total) },
    result: r.result ?? null,
    error: r.error ?? null,
    createdBy: { keyId: r.created_by ?? null, label: r.created_by_label ?? null },
    createdAt: (r.created_at as Date).toISOString(),
    updatedAt: (r.updated_at as Date).toISOString(),
    finishedAt: r.finished_at ? (r.finished_at as Date).toISOString() : null,
  };
}
