import type { Pool } from 'pg';

export interface WebhookEndpoint {
  advertiserId: string;
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
  advertiserId: string;
  conversionId: string;
  revision: number;
  url: string;
  at?: string;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
  outcome: 'delivered' | 'retry' | 'dead_letter' | 'parked';
}

/** Advertisers' webhook endpoints (URL, signing secret, health) and every delivery attempt. */
export class WebhookRepository {
  constructor(private readonly pool: Pool) {}

  async endpoint(advertiserId: string): Promise<WebhookEndpoint | null> {
    const { rows } = await this.pool.query(
      `SELECT id, webhook_url, webhook_secret, webhook_status, webhook_consecutive_failures, webhook_failed_deliveries, webhook_parked_at,
              CASE WHEN webhook_previous_secret_until > now() THEN webhook_previous_secret END AS previous_secret
         FROM advertisers WHERE id = $1`,
      [advertiserId],
    );
    if (!rows.length) return null;
    const r = rows[0];
    return {
      advertiserId: r.id,
      url: r.webhook_url,
      secret: r.webhook_secret,
      previousSecret: r.previous_secret ?? null,
      status: r.webhook_status,
      consecutiveFailures: r.webhook_consecutive_failures,
      failedDeliveries: r.webhook_failed_deliveries,
      parkedAt: r.webhook_parked_at ? (r.webhook_parked_at as Date).toISOString() : null,
    };
  }

  /** Advertisers whose endpoint is parked. */
  async parked(): Promise<string[]> {
    return (await this.pool.query(`SELECT id FROM advertisers WHERE webhook_status = 'parked'`)).rows.map((r) => r.id as string);
  }

  /** Makes a parked endpoint active again, its failure counts cleared (after a replay). */
  async unpark(advertiserId: string): Promise<void> {
    await this.pool.query(
      `UPDATE advertisers SET webhook_status = 'active', webhook_consecutive_failures = 0, webhook_failed_deliveries = 0, webhook_parked_at = NULL
        WHERE id = $1`,
      [advertiserId],
    );
  }

  /**
   * Sets the URL (null: no webhook) and makes the endpoint active again, in one statement. With a
   * URL, `candidateSecret` becomes the signing secret when there is none yet or `rotate` asks for a
   * new one; returns that secret when it was taken (to be shown once), undefined otherwise. One
   * statement: no moment where a URL is stored without a secret to sign its deliveries. A rotated
   * secret keeps signing beside the new one for `overlapSeconds`.
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
   * Records an attempt and updates the endpoint's health: a success clears both streaks; a
   * dead-lettered delivery parks the endpoint once `parkAfter` of them came in a row (a count of
   * deliveries that each failed for the whole retry schedule, so a burst of traffic during a short
   * outage does not park it). Returns whether the endpoint is parked now.
   */
  async record(a: WebhookAttempt, parkAfter: number): Promise<boolean> {
    await this.pool.query(
      `INSERT INTO webhook_attempts (delivery_id, attempt, advertiser_id, conversion_id, revision, url, status_code, error, duration_ms, outcome)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [a.deliveryId, a.attempt, a.advertiserId, a.conversionId, a.revision, a.url, a.statusCode, a.error, a.durationMs, a.outcome],
    );
    if (a.outcome === 'parked') return true;
    const { rows } = await this.pool.query(
      `UPDATE advertisers SET
         webhook_consecutive_failures = CASE WHEN $2 THEN 0 ELSE webhook_consecutive_failures + 1 END,
         webhook_failed_deliveries = CASE WHEN $2 THEN 0 WHEN $3 THEN webhook_failed_deliveries + 1 ELSE webhook_failed_deliveries END,
         webhook_status = CASE WHEN $3 AND webhook_failed_deliveries + 1 >= $4 THEN 'parked' ELSE webhook_status END,
         webhook_parked_at = CASE WHEN $3 AND webhook_failed_deliveries + 1 >= $4 AND webhook_parked_at IS NULL THEN now() ELSE webhook_parked_at END
       WHERE id = $1 RETURNING webhook_status`,
      [a.advertiserId, a.outcome === 'delivered', a.outcome === 'dead_letter', parkAfter],
    );
    return rows[0]?.webhook_status === 'parked';
  }

  /** True when this delivery already reached the receiver (a redelivered job is not sent twice). */
  async delivered(deliveryId: string): Promise<boolean> {
    return (
      (await this.pool.query(`SELECT 1 FROM webhook_attempts WHERE delivery_id = $1 AND outcome = 'delivered' LIMIT 1`, [deliveryId]))
        .rowCount === 1
    );
  }

  async attempts(advertiserId: string, limit: number): Promise<WebhookAttempt[]> {
    const { rows } = await this.pool.query(`SELECT * FROM webhook_attempts WHERE advertiser_id = $1 ORDER BY id DESC LIMIT $2`, [
      advertiserId,
      limit,
    ]);
    return rows.map((r) => ({
      deliveryId: r.delivery_id,
      attempt: r.attempt,
      advertiserId: r.advertiser_id,
      conversionId: r.conversion_id,
      revision: r.revision,
      url: r.url,
      at: (r.at as Date).toISOString(),
      statusCode: r.status_code,
      error: r.error,
      durationMs: r.duration_ms,
      outcome: r.outcome,
    }));
  }
}
