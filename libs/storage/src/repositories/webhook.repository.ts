import type { Pool } from 'pg';
import { ChurnVacuum } from '../churn-vacuum';

/** Whose endpoint a delivery goes to: an advertiser's webhook or a publisher's postback (one delivery mechanism, two audiences). */
export type WebhookOwner = 'advertiser' | 'publisher';

/** One endpoint: an advertiser's webhook (`id` = the advertiser) or a publisher's postback (`id` = the postback). */
export interface EndpointRef {
  owner: WebhookOwner;
  id: string;
}

export interface WebhookEndpoint extends EndpointRef {
  /** The advertiser, or the publisher that owns the postback. */
  ownerId: string;
  /** The URL (an advertiser's) or the URL template with macros (a publisher's postback). */
  url: string | null;
  secret: string | null;
  /** The secret before the last rotation, while it still signs (WEBHOOK_SECRET_OVERLAP_HOURS); else null. */
  previousSecret: string | null;
  status: 'active' | 'parked';
  /** Failed attempts in a row (any delivery). */
  consecutiveFailures: number;
  /** Deliveries in a row that failed every attempt and were dead-lettered. */
  failedDeliveries: number;
  parkedAt: string | null;
}

export interface WebhookAttempt {
  deliveryId: string;
  attempt: number;
  owner: WebhookOwner;
  /** Set on an advertiser's webhook attempts. */
  advertiserId: string | null;
  /** Set on a publisher's postback attempts, with the postback. */
  publisherId: string | null;
  postbackId: string | null;
  conversionId: string;
  revision: number;
  url: string;
  at?: string;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
  outcome: 'delivered' | 'retry' | 'dead_letter' | 'parked';
  /** The dead-letter replay round it was made in (0, or absent: before any replay). */
  replay?: number;
}

/**
 * Where each owner's endpoints live: the advertiser's webhook is a part of its row (`webhook_*`
 * columns), a publisher's postbacks have their own table (one row each, same columns unprefixed).
 * Every statement below is written once for both.
 */
const ENDPOINT_TABLES: Record<WebhookOwner, { table: string; ownerColumn: string; prefix: string }> = {
  advertiser: { table: 'advertisers', ownerColumn: 'id', prefix: 'webhook_' },
  publisher: { table: 'postbacks', ownerColumn: 'publisher_id', prefix: '' },
};

/**
 * Claims ended (recorded or released: deleted) after which a notifier vacuums webhook_claims itself:
 * a row is inserted and deleted per attempt, and nothing else reclaims them where autovacuum is off.
 */
export const VACUUM_CLAIMS_AFTER = 10_000;

/** Where a delivery stands before an attempt: reached its receiver, or how many requests it had. */
export interface DeliveryProgress {
  delivered: boolean;
  /** Requests recorded (delivered, retried, dead-lettered; not parked) in the replay round asked for. */
  requests: number;
  /** The highest attempt number recorded for the delivery, in any round (0: none). */
  lastAttempt: number;
}

/** Webhook and postback endpoints' secrets and health, and every delivery attempt. */
export class WebhookRepository {
  constructor(private readonly pool: Pool) {}

  async endpoint(ref: EndpointRef): Promise<WebhookEndpoint | null>;
  /** An advertiser's webhook, by the advertiser's id. */
  async endpoint(advertiserId: string): Promise<WebhookEndpoint | null>;
  async endpoint(refOrId: EndpointRef | string): Promise<WebhookEndpoint | null> {
    const ref: EndpointRef = typeof refOrId === 'string' ? { owner: 'advertiser', id: refOrId } : refOrId;
    const { table, ownerColumn, prefix: p } = ENDPOINT_TABLES[ref.owner];
    const { rows } = await this.pool.query(
      `SELECT id, ${ownerColumn} AS owner_id, ${p}url AS url, ${p}secret AS secret, ${p}status AS status,
              ${p}consecutive_failures AS consecutive_failures, ${p}failed_deliveries AS failed_deliveries, ${p}parked_at AS parked_at,
              CASE WHEN ${p}previous_secret_until > now() THEN ${p}previous_secret END AS previous_secret
         FROM ${table} WHERE id = $1`,
      [ref.id],
    );
    if (!rows.length) return null;
    const r = rows[0];
    return {
      owner: ref.owner,
      id: r.id,
      ownerId: r.owner_id,
      url: r.url,
      secret: r.secret,
      previousSecret: r.previous_secret ?? null,
      status: r.status,
      consecutiveFailures: r.consecutive_failures,
      failedDeliveries: r.failed_deliveries,
      parkedAt: r.parked_at ? (r.parked_at as Date).toISOString() : null,
    };
  }

  /** Owners with a parked endpoint (advertisers, publishers, or both). */
  async parked(owners: readonly WebhookOwner[] = ['advertiser', 'publisher']): Promise<{ owner: WebhookOwner; ownerId: string }[]> {
    const out: { owner: WebhookOwner; ownerId: string }[] = [];
    for (const owner of owners) {
      const { table, ownerColumn, prefix: p } = ENDPOINT_TABLES[owner];
      const { rows } = await this.pool.query(`SELECT DISTINCT ${ownerColumn} AS owner_id FROM ${table} WHERE ${p}status = 'parked'`);
      out.push(...rows.map((r) => ({ owner, ownerId: r.owner_id as string })));
    }
    return out;
  }

  /** Makes an owner's parked endpoints active again, their failure counts cleared (after a replay). */
  async unpark(advertiserId: string): Promise<void>;
  async unpark(owner: WebhookOwner, ownerId: string): Promise<void>;
  async unpark(ownerOrAdvertiser: string, ownerId?: string): Promise<void> {
    const [owner, id] = ownerId === undefined ? (['advertiser', ownerOrAdvertiser] as const) : [ownerOrAdvertiser as WebhookOwner, ownerId];
    const { table, ownerColumn, prefix: p } = ENDPOINT_TABLES[owner];
    await this.pool.query(
      `UPDATE ${table} SET ${p}status = 'active', ${p}consecutive_failures = 0, ${p}failed_deliveries = 0, ${p}parked_at = NULL
        WHERE ${ownerColumn} = $1`,
      [id],
    );
  }

  /**
   * Sets an advertiser's webhook URL (null: no webhook) and makes the endpoint active again, in one
   * statement. With a URL, `candidateSecret` becomes the signing secret when there is none yet or
   * `rotate` asks for a new one; returns that secret when it was taken (to be shown once), undefined
   * otherwise. One statement: no moment where a URL is stored without a secret to sign its deliveries.
   * A rotated secret keeps signing beside the new one for `overlapSeconds`.
   */
  async configure(
    advertiserId: string,
    url: string | null,
    candidateSecret: string,
    rotate = false,
    overlapSeconds = 0,
  ): Promise<string | undefined> {
    const { rows } = await this.pool.query<{ fresh: boolean }>(
      // Every SET expression reads the row as it was: the previous secret is the one being replaced.
      `UPDATE advertisers SET webhook_url = $2,
              webhook_secret = CASE WHEN $2::text IS NOT NULL AND (webhook_secret IS NULL OR $4) THEN $3 ELSE webhook_secret END,
              webhook_previous_secret = CASE WHEN $2::text IS NOT NULL AND webhook_secret IS NOT NULL AND $4 THEN webhook_secret
                                             ELSE webhook_previous_secret END,
              webhook_previous_secret_until = CASE WHEN $2::text IS NOT NULL AND webhook_secret IS NOT NULL AND $4
                                                   THEN now() + make_interval(secs => $5) ELSE webhook_previous_secret_until END,
              webhook_status = 'active', webhook_consecutive_failures = 0, webhook_failed_deliveries = 0, webhook_parked_at = NULL,
              updated_at = now()
        WHERE id = $1
        RETURNING webhook_secret IS NOT DISTINCT FROM $3 AS fresh`,
      [advertiserId, url, candidateSecret, rotate, overlapSeconds],
    );
    return rows[0]?.fresh ? candidateSecret : undefined;
  }

  /**
   * Records an attempt and updates its endpoint's health: a success clears both streaks; a
   * dead-lettered delivery parks the endpoint once `parkAfter` of them came in a row (a count of
   * deliveries that each failed for the whole retry schedule, so a burst of traffic during a short
   * outage does not park it). Returns whether the endpoint is parked now. `holder`: the claim this
   * attempt ends (`claim`), released in the same statement, so that no copy can take the delivery
   * between the attempt's record and the release and miss a delivered one.
   */
  async record(a: WebhookAttempt, parkAfter: number, holder?: string): Promise<boolean> {
    const insert = `INSERT INTO webhook_attempts (delivery_id, attempt, owner_type, advertiser_id, publisher_id, postback_id, conversion_id, revision,
                                                  url, status_code, error, duration_ms, outcome, replay)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`;
    const values = [
      a.deliveryId,
      a.attempt,
      a.owner,
      a.advertiserId,
      a.publisherId,
      a.postbackId,
      a.conversionId,
      a.revision,
      a.url,
      a.statusCode,
      a.error,
      a.durationMs,
      a.outcome,
      a.replay ?? 0,
    ];
    // The holder is the statement's last parameter.
    const released = (param: number) =>
      `released AS (DELETE FROM webhook_claims WHERE delivery_id = $1 AND owner_type = $3 AND holder = $${param})`;
    if (a.outcome === 'parked') {
      if (holder === undefined) await this.pool.query(insert, values);
      else await this.pool.query(`WITH ${released(values.length + 1)} ${insert}`, [...values, holder]);
      return true;
    }
    // One statement: whoever sees the attempt sees the endpoint's health after it.
    const { table, prefix: p } = ENDPOINT_TABLES[a.owner];
    const params = [
      ...values,
      a.owner === 'advertiser' ? a.advertiserId : a.postbackId,
      a.outcome === 'delivered',
      a.outcome === 'dead_letter',
      parkAfter,
    ];
    const { rows } = await this.pool.query(
      `WITH ${holder === undefined ? '' : `${released(params.length + 1)}, `}attempt AS (${insert})
       UPDATE ${table} SET
         ${p}consecutive_failures = CASE WHEN $16 THEN 0 ELSE ${p}consecutive_failures + 1 END,
         ${p}failed_deliveries = CASE WHEN $16 THEN 0 WHEN $17 THEN ${p}failed_deliveries + 1 ELSE ${p}failed_deliveries END,
         ${p}status = CASE WHEN $17 AND ${p}failed_deliveries + 1 >= $18 THEN 'parked' ELSE ${p}status END,
         ${p}parked_at = CASE WHEN $17 AND ${p}failed_deliveries + 1 >= $18 AND ${p}parked_at IS NULL THEN now() ELSE ${p}parked_at END
       WHERE id = $15 RETURNING ${p}status AS status`,
      holder === undefined ? params : [...params, holder],
    );
    return rows[0]?.status === 'parked';
  }

  /**
   * Takes the send of a delivery to its owner for `leaseMs`, as `holder` (a token of this attempt):
   * true when no one holds it or the last holder's lease ran out (a notifier that died mid-send), false
   * while another copy of the delivery is being sent. One statement, atomic across notifiers: a
   * conflicting insert waits for the holder's record (which releases the claim) and then inserts, or
   * finds the lease still running. Ask `delivered` after taking it, not before: only a later statement
   * sees a delivery the previous holder recorded as this one took over.
   */
  async claim(deliveryId: string, owner: WebhookOwner, holder: string, leaseMs: number): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `INSERT INTO webhook_claims (delivery_id, owner_type, holder, lease_until) VALUES ($1, $2, $3, now() + make_interval(secs => $4))
       ON CONFLICT (delivery_id, owner_type) DO UPDATE SET holder = excluded.holder, lease_until = excluded.lease_until
        WHERE webhook_claims.lease_until <= now()
       RETURNING 1`,
      [deliveryId, owner, holder, leaseMs / 1000],
    );
    return rowCount === 1;
  }

  /** Gives up a claim that ends with no attempt recorded (already delivered, no endpoint any more, a failure before the send). */
  async release(deliveryId: string, owner: WebhookOwner, holder: string): Promise<void> {
    await this.pool.query(`DELETE FROM webhook_claims WHERE delivery_id = $1 AND owner_type = $2 AND holder = $3`, [
      deliveryId,
      owner,
      holder,
    ]);
  }

  /** True when this delivery already reached the owner's receiver (a redelivered job is not sent twice). */
  async delivered(deliveryId: string, owner: WebhookOwner = 'advertiser'): Promise<boolean> {
    return (
      (
        await this.pool.query(
          `SELECT 1 FROM webhook_attempts WHERE delivery_id = $1 AND owner_type = $2 AND outcome = 'delivered' LIMIT 1`,
          [deliveryId, owner],
        )
      ).rowCount === 1
    );
  }

  /**
   * `delivered`, the requests this delivery had in replay round `replay`, and its highest attempt
   * number: one statement. Its retry budget is spent on the requests of a round, whichever copy of it
   * made them (every copy replayed in one round carries that round), not on the times a copy was
   * handed back while another held the claim, nor on a copy's own deliveries.
   */
  async progress(deliveryId: string, owner: WebhookOwner, replay: number): Promise<DeliveryProgress> {
    const { rows } = await this.pool.query<{ delivered: boolean; requests: number; last_attempt: number }>(
      `SELECT coalesce(bool_or(outcome = 'delivered'), false) AS delivered,
              count(*) FILTER (WHERE outcome <> 'parked' AND replay = $3)::int AS requests,
              coalesce(max(attempt), 0)::int AS last_attempt
         FROM webhook_attempts WHERE delivery_id = $1 AND owner_type = $2`,
      [deliveryId, owner, replay],
    );
    return { delivered: rows[0].delivered, requests: rows[0].requests, lastAttempt: rows[0].last_attempt };
  }

  /** Vacuums webhook_claims every VACUUM_CLAIMS_AFTER claims ended (one per notifier). */
  claimsVacuum(): ChurnVacuum {
    return new ChurnVacuum(this.pool, 'webhook_claims', VACUUM_CLAIMS_AFTER);
  }

  /** An advertiser's latest attempts, newest first. */
  async attempts(advertiserId: string, limit: number): Promise<WebhookAttempt[]> {
    return (await this.attemptsPage({ advertiserId, limit })).items;
  }

  /**
   * Attempts newest first, one page (keyset on the row id), narrowed to an advertiser, a publisher
   * (its postbacks), a postback or an owner type; every attempt when nothing narrows it (admins).
   */
  async attemptsPage(q: {
    owner?: WebhookOwner;
    advertiserId?: string;
    publisherId?: string;
    postbackId?: string;
    limit: number;
    after?: { id: string };
  }): Promise<{ items: WebhookAttempt[]; next: { ts: string; id: string } | null }> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, value: unknown) => {
      params.push(value);
      where.push(sql.replace('?', `$${params.length}`));
    };
    if (q.owner) add('owner_type = ?', q.owner);
    if (q.advertiserId) add('advertiser_id = ?', q.advertiserId);
    if (q.publisherId) add('publisher_id = ?', q.publisherId);
    if (q.postbackId) add('postback_id = ?', q.postbackId);
    if (q.after) add('id < ?::bigint', q.after.id);
    params.push(q.limit + 1);
    const { rows } = await this.pool.query(
      `SELECT * FROM webhook_attempts ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT $${params.length}`,
      params,
    );
    const page = rows.slice(0, q.limit);
    return {
      items: page.map((r) => ({
        deliveryId: r.delivery_id,
        attempt: r.attempt,
        owner: r.owner_type,
        advertiserId: r.advertiser_id,
        publisherId: r.publisher_id,
        postbackId: r.postback_id,
        conversionId: r.conversion_id,
        revision: r.revision,
        url: r.url,
        at: (r.at as Date).toISOString(),
        statusCode: r.status_code,
        error: r.error,
        durationMs: r.duration_ms,
        outcome: r.outcome,
      })),
      next: rows.length > q.limit ? { ts: (page[page.length - 1].at as Date).toISOString(), id: String(page[page.length - 1].id) } : null,
    };
  }
}
