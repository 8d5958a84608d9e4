import type { Pool } from 'pg';
import { mintEventId } from '@app/contracts';
import type { Cursor, Page } from './query.repository';

export interface ReviewAction {
  id: string;
  at: string;
  actor: string;
  conversionId: string;
  previousStatus: string;
  requestedStatus: string;
  note: string | null;
}

/** Every analyst review request (who, when, before, asked for), kept whether or not it changed anything. */
export class ReviewRepository {
  constructor(private readonly pool: Pool) {}

  async record(a: Omit<ReviewAction, 'id' | 'at'>): Promise<ReviewAction> {
    const id = mintEventId();
    // Millisecond time, set here: the keyset cursor carries it as an ISO string.
    const at = new Date();
    await this.pool.query(
      `INSERT INTO review_actions (id, at, actor, conversion_id, previous_status, requested_status, note) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [id, at, a.actor, a.conversionId, a.previousStatus, a.requestedStatus, a.note],
    );
    return { ...a, id, at: at.toISOString() };
  }

  /** Review actions, newest first, optionally of one conversion or one actor. */
  async list(f: { conversionId?: string; actor?: string; limit: number; after?: Cursor }): Promise<Page<ReviewAction>> {
    const after = f.after ?? { ts: '9999-12-31T00:00:00Z', id: '' };
    const { rows } = await this.pool.query(
      `SELECT * FROM review_actions
        WHERE ($1::text IS NULL OR conversion_id = $1) AND ($2::text IS NULL OR actor = $2) AND (at, id) < ($3::timestamptz, $4)
        ORDER BY at DESC, id DESC LIMIT $5`,
      [f.conversionId ?? null, f.actor ?? null, after.ts, after.id, f.limit + 1],
    );
    const items = rows.slice(0, f.limit).map(toAction);
    const last = items[items.length - 1];
    return { items, next: rows.length > f.limit ? { ts: last.at, id: last.id } : null };
  }
}

function toAction(r: Record<string, any>): ReviewAction {
  return {
    id: r.id,
    at: (r.at as Date).toISOString(),
    actor: r.actor,
    conversionId: r.conversion_id,
    previousStatus: r.previous_status,
    requestedStatus: r.requested_status,
    note: r.note,
  };
}
