import type { Pool } from 'pg';
import { mintEventId } from '@app/contracts';

export interface DeadLetterReplayRecord {
  id: string;
  at: string;
  /** When the replay was done; null while it runs, or for one that was interrupted. */
  finishedAt: string | null;
  actor: string;
  filter: Record<string, unknown>;
  replayed: number;
  byConsumer: Record<string, number>;
  deadLetters: string[];
  missing: string[];
  skipped: string[];
}

export type ReplayResult = Pick<DeadLetterReplayRecord, 'replayed' | 'byConsumer' | 'deadLetters' | 'missing' | 'skipped'>;

/**
 * The audit of dead-letter replays, kept whether or not a replay found anything. A replay is
 * recorded before it starts (`begin`) and completed when done (`finish`): one that is interrupted
 * stays in the audit, unfinished.
 */
export class DeadLetterReplayRepository {
  constructor(private readonly pool: Pool) {}

  async begin(actor: string, filter: Record<string, unknown>): Promise<DeadLetterReplayRecord> {
    const id = mintEventId();
    const at = new Date();
    await this.pool.query(
      `INSERT INTO dead_letter_replays (id, at, actor, filter, replayed, by_consumer, dead_letters, missing, skipped)
       VALUES ($1, $2, $3, $4, 0, '{}', '{}', '{}', '{}')`,
      [id, at, actor, JSON.stringify(filter)],
    );
    return {
      id,
      at: at.toISOString(),
      finishedAt: null,
      actor,
      filter,
      replayed: 0,
      byConsumer: {},
      deadLetters: [],
      missing: [],
      skipped: [],
    };
  }

  async finish(started: DeadLetterReplayRecord, r: ReplayResult): Promise<DeadLetterReplayRecord> {
    const finishedAt = new Date();
    await this.pool.query(
      `UPDATE dead_letter_replays
          SET finished_at = $2, replayed = $3, by_consumer = $4, dead_letters = $5, missing = $6, skipped = $7
        WHERE id = $1`,
      [started.id, finishedAt, r.replayed, JSON.stringify(r.byConsumer), r.deadLetters, r.missing, r.skipped],
    );
    return { ...started, ...r, finishedAt: finishedAt.toISOString() };
  }

  /** The latest replays, newest first. */
  async list(limit: number): Promise<DeadLetterReplayRecord[]> {
    const { rows } = await this.pool.query(`SELECT * FROM dead_letter_replays ORDER BY at DESC, id DESC LIMIT $1`, [limit]);
    return rows.map((r) => ({
      id: r.id,
      at: (r.at as Date).toISOString(),
      finishedAt: r.finished_at ? (r.finished_at as Date).toISOString() : null,
      actor: r.actor,
      filter: r.filter,
      replayed: r.replayed,
      byConsumer: r.by_consumer,
      deadLetters: r.dead_letters,
      missing: r.missing,
      skipped: r.skipped,
    }));
  }
}
