import type { Pool } from 'pg';

/** A publisher's postback as the publisher (and admins) see it: never its secret. */
export interface Postback {
  id: string;
  publisherId: string;
  /** Null: every offer of the publisher without a postback of its own. */
  offerId: string | null;
  /** The URL template, macros unsubstituted. */
  url: string;
  status: 'active' | 'parked';
  consecutiveFailures: number;
  failedDeliveries: number;
  parkedAt: string | null;
  /** Until when the secret before the last rotation still signs, beside the current one. */
  previousSecretUntil: string | null;
  createdAt: string;
  updatedAt: string;
}

/** Another postback of the publisher already covers that scope (global, or that offer). */
export class PostbackScopeTakenError extends Error {}

const COLUMNS = `id, publisher_id, offer_id, url, status, consecutive_failures, failed_deliveries, parked_at,
                 CASE WHEN previous_secret_until > now() THEN previous_secret_until END AS previous_secret_until, created_at, updated_at`;

function view(r: Record<string, unknown>): Postback {
  const iso = (v: unknown) => (v ? (v as Date).toISOString() : null);
  return {
    id: r.id as string,
    publisherId: r.publisher_id as string,
    offerId: (r.offer_id as string) ?? null,
    url: r.url as string,
    status: r.status as Postback['status'],
    consecutiveFailures: r.consecutive_failures as number,
    failedDeliveries: r.failed_deliveries as number,
    parkedAt: iso(r.parked_at),
    previousSecretUntil: iso(r.previous_secret_until),
    createdAt: iso(r.created_at)!,
    updatedAt: iso(r.updated_at)!,
  };
}

const isScopeConflict = (e: unknown) => (e as { code?: string }).code === '23505';

/**
 * Publishers' postback templates (DESIGN §12). Their secrets and delivery health are read and
 * updated by the WebhookRepository, like an advertiser's webhook; this is the publisher's catalog
 * of them. Every query is scoped by the publisher unless it says otherwise (admins).
 */
export class PostbackRepository {
  constructor(private readonly pool: Pool) {}

  /** Creates a postback signed with `secret`; PostbackScopeTakenError when one covers that scope already. */
  async create(p: { id: string; publisherId: string; offerId: string | null; url: string; secret: string }): Promise<Postback> {
    try {
      const { rows } = await this.pool.query(
        `INSERT INTO postbacks (id, publisher_id, offer_id, url, secret) VALUES ($1, $2, $3, $4, $5) RETURNING ${COLUMNS}`,
        [p.id, p.publisherId, p.offerId, p.url, p.secret],
      );
      return view(rows[0]);
    } catch (e) {
      if (isScopeConflict(e)) throw new PostbackScopeTakenError(p.offerId ? `offer ${p.offerId}` : 'every offer');
      throw e;
    }
  }

  /**
   * Changes a publisher's postback: a new template and / or scope (fields left undefined keep their
   * value), and `rotateTo` a new secret (the previous one keeps signing for `overlapSeconds`).
   * Any change makes the endpoint active again. Null when the publisher has no such postback.
   */
  async update(
    publisherId: string,
    id: string,
    change: { url?: string; offerId?: string | null; rotateTo?: string; overlapSeconds?: number },
  ): Promise<Postback | null> {
    try {
      const { rows } = await this.pool.query(
        `UPDATE postbacks SET
                url = coalesce($3, url),
                offer_id = CASE WHEN $4 THEN $5 ELSE offer_id END,
                previous_secret = CASE WHEN $6::text IS NOT NULL THEN secret ELSE previous_secret END,
                previous_secret_until = CASE WHEN $6::text IS NOT NULL THEN now() + make_interval(secs => $7) ELSE previous_secret_until END,
                secret = coalesce($6, secret),
                status = 'active', consecutive_failures = 0, failed_deliveries = 0, parked_at = NULL, updated_at = now()
          WHERE publisher_id = $1 AND id = $2 RETURNING ${COLUMNS}`,
        [
          publisherId,
          id,
          change.url ?? null,
          change.offerId !== undefined,
          change.offerId ?? null,
          change.rotateTo ?? null,
          change.overlapSeconds ?? 0,
        ],
      );
      return rows.length ? view(rows[0]) : null;
    } catch (e) {
      if (isScopeConflict(e)) throw new PostbackScopeTakenError(change.offerId ? `offer ${change.offerId}` : 'every offer');
      throw e;
    }
  }

  /** Deletes a publisher's postback; false when it has none with that id. */
  async delete(publisherId: string, id: string): Promise<boolean> {
    return ((await this.pool.query(`DELETE FROM postbacks WHERE publisher_id = $1 AND id = $2`, [publisherId, id])).rowCount ?? 0) > 0;
  }

  async get(publisherId: string, id: string): Promise<Postback | null> {
    const { rows } = await this.pool.query(`SELECT ${COLUMNS} FROM postbacks WHERE publisher_id = $1 AND id = $2`, [publisherId, id]);
    return rows.length ? view(rows[0]) : null;
  }

  /** A publisher's postbacks (or, with no publisher, every publisher's: admins), global first, then by offer. */
  async list(publisherId?: string): Promise<Postback[]> {
    const { rows } = await this.pool.query(
      `SELECT ${COLUMNS} FROM postbacks WHERE $1::text IS NULL OR publisher_id = $1
        ORDER BY publisher_id, offer_id NULLS FIRST, id`,
      [publisherId ?? null],
    );
    return rows.map(view);
  }

  /** The postback a decision on this publisher's conversion fires: the offer's own, else the global one. */
  async effective(publisherId: string, offerId: string | null): Promise<{ id: string } | null> {
    const { rows } = await this.pool.query(
      `SELECT id FROM postbacks WHERE publisher_id = $1 AND (offer_id IS NULL OR offer_id = $2)
        ORDER BY offer_id NULLS LAST LIMIT 1`,
      [publisherId, offerId],
    );
    return rows.length ? { id: rows[0].id } : null;
  }

  /** Publishers with at least one postback (the notifier queues postback deliveries only for them). */
  async publishers(): Promise<string[]> {
    return (await this.pool.query(`SELECT DISTINCT publisher_id FROM postbacks`)).rows.map((r) => r.publisher_id as string);
  }

  /** The sub-ids of a conversion's click, for the `{sub1}`…`{sub5}` macros (null when the click is not recorded). */
  async clickSubIds(clickId: string): Promise<Record<string, string> | null> {
    const { rows } = await this.pool.query(`SELECT sub_ids FROM clicks WHERE id = $1 LIMIT 1`, [clickId]);
    return rows.length ? ((rows[0].sub_ids as Record<string, string> | null) ?? {}) : null;
  }
}
