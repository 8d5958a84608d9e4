import type { Pool } from 'pg';
import { mintEventId } from '@app/contracts';

export interface DeadLetterReplayRecord {
  id: string;
  at: string;
  actor: string;
  filter: Record<string, unknown>;
  replayed: number;
  byConsumer: Record<string, number>;
  deadLetters: string[];
  missing: string[];
  skipped: string[];
}

/** The audit of dead-letter replays, kept whether or not a replay found anything. */
export class DeadLetterReplayRepository {
  constructor(private readonly pool: Pool) {}

  async record(r: Omit<DeadLetterReplayRecord, 'id' | 'at'>): Promise<DeadLetterReplayRecord> {
    const id = mintEventId();
    const at = new Date();
    await this.pool.query(
      `INSERT INTO dead_letter_replays (id, at, actor, filter, replayed, by_consumer, dead_letters, missing, skipped)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [id, at, r.actor, JSON.stringify(r.filter), r.replayed, JSON.stringify(r.byConsumer), r.deadLetters, r.missing, r.skipped],
    );
    return { ...r, id, at: at.toISOString() };
  }

  /** The latest replays, newest first. */
  async list(limit: number): Promise<DeadLetterReplayRecord[]> {
    const { rows } = await this.pool.query(`SELECT * FROM dead_letter_replays ORDER BY at DESC, id DESC LIMIT $1`, [limit]);
    return rows.map((r) => ({
      id: r.id,
      at: (r.at as Date).toISOString(),
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
