import type { Pool } from 'pg';
import type { Advertiser, AdvertiserInput, Offer, OfferInput, Publisher, PublisherInput, PublisherPayout } from '@app/contracts';

/** Raised when an offer names an advertiser that does not exist. */
export class UnknownReferenceError extends Error {
  constructor(
    readonly field: string,
    readonly value: string,
  ) {
    super(`${field} "${value}" does not exist`);
    this.name = 'UnknownReferenceError';
  }
}

/** Raised when money terms are out of range (a percentage above 100). */
export class InvalidTermsError extends Error {
  constructor(readonly field: string) {
    super(`${field}: a percentage of the sale is at most 100`);
    this.name = 'InvalidTermsError';
  }
}

/** Maps the offers' and offer_payouts' percentage checks to the field they guard. */
function termsViolation(e: unknown): InvalidTermsError | null {
  const { code, constraint } = e as { code?: string; constraint?: string };
  if (code !== '23514') return null;
  if (constraint === 'offers_revenue_percent') return new InvalidTermsError('revenue');
  if (constraint === 'offers_payout_percent' || constraint === 'offer_payouts_percent') return new InvalidTermsError('payout');
  return null;
}

export interface CatalogSnapshot {
  advertisers: Advertiser[];
  offers: Offer[];
  publishers: Publisher[];
}

const offerColumns = `id, advertiser_id, name, url, status, revenue_model, revenue, payout_model, payout, currency, allowed_countries,
  max_conversions_per_click, hold_threshold, reject_threshold, open_conversions`;
const advertiserColumns = `id, name, status, webhook_url, postback_allowed_ips`;
// Every offer row carries its publishers' own payouts, so the scorer has all the terms in one read.
const offerSelect = `SELECT ${offerColumns},
  (SELECT coalesce(jsonb_object_agg(p.publisher_id, jsonb_build_object('payoutModel', p.payout_model, 'payout', p.payout::float8)), '{}')
     FROM offer_payouts p WHERE p.offer_id = offers.id) AS publisher_payouts
  FROM offers`;

/** Advertisers, offers and publishers. Upserts change only the fields a request names. */
export class CatalogRepository {
  constructor(private readonly pool: Pool) {}

  async upsertAdvertiser(input: AdvertiserInput): Promise<{ advertiser: Advertiser; created: boolean }> {
    const { rows } = await this.pool.query(
      `INSERT INTO advertisers (id, name, status, webhook_url, postback_allowed_ips)
       VALUES ($1, $2, coalesce($3::text, 'active'), $4, coalesce($6::text[], '{}'))
       ON CONFLICT (id) DO UPDATE SET
         name = EXCLUDED.name,
         status = coalesce($3::text, advertisers.status),
         webhook_url = CASE WHEN $5 THEN EXCLUDED.webhook_url ELSE advertisers.webhook_url END,
         postback_allowed_ips = coalesce($6::text[], advertisers.postback_allowed_ips),
         updated_at = now()
       RETURNING ${advertiserColumns}, (xmax = 0) AS created`,
      [
        input.id,
        input.name,
        input.status ?? null,
        input.webhookUrl ?? null,
        input.webhookUrl !== undefined,
        input.postbackAllowedIps ?? null,
      ],
    );
    return { advertiser: toAdvertiser(rows[0]), created: rows[0].created };
  }

  async upsertPublisher(input: PublisherInput): Promise<{ publisher: Publisher; created: boolean }> {
    const { rows } = await this.pool.query(
      `INSERT INTO publishers (id, name, status) VALUES ($1, $2, coalesce($3::text, 'active'))
       ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, status = coalesce($3::text, publishers.status), updated_at = now()
       RETURNING id, name, status, (xmax = 0) AS created`,
      [input.id, input.name, input.status ?? null],
    );
    const { created, ...publisher } = rows[0];
    return { publisher: publisher as Publisher, created };
  }

  async upsertOffer(input: OfferInput): Promise<{ offer: Offer; created: boolean }> {
    const has = (k: keyof OfferInput) => input[k] !== undefined;
    try {
      const { rows } = await this.pool.query(
        `INSERT INTO offers (id, advertiser_id, name, url, status, payout, currency, allowed_countries,
                             max_conversions_per_click, hold_threshold, reject_threshold, open_conversions,
                             revenue_model, revenue, payout_model)
         VALUES ($1, $2, $3, $4, coalesce($5::text, 'active'), coalesce($6::numeric, 0), coalesce($7::text, 'USD'),
                 coalesce($8::text[], '{}'), coalesce($9::integer, 1), $10::real, $11::real, coalesce($15::boolean, false),
                 coalesce($16::text, 'percent'), coalesce($17::numeric, 100), coalesce($18::text, 'fixed'))
         ON CONFLICT (id) DO UPDATE SET
           advertiser_id = EXCLUDED.advertiser_id,
           name = EXCLUDED.name,
           url = CASE WHEN $12 THEN EXCLUDED.url ELSE offers.url END,
           status = coalesce($5::text, offers.status),
           payout = coalesce($6::numeric, offers.payout),
           currency = coalesce($7::text, offers.currency),
           allowed_countries = coalesce($8::text[], offers.allowed_countries),
           max_conversions_per_click = coalesce($9::integer, offers.max_conversions_per_click),
           hold_threshold = CASE WHEN $13 THEN EXCLUDED.hold_threshold ELSE offers.hold_threshold END,
           reject_threshold = CASE WHEN $14 THEN EXCLUDED.reject_threshold ELSE offers.reject_threshold END,
           open_conversions = coalesce($15::boolean, offers.open_conversions),
           revenue_model = coalesce($16::text, offers.revenue_model),
           revenue = coalesce($17::numeric, offers.revenue),
           payout_model = coalesce($18::text, offers.payout_model),
           updated_at = now()
         RETURNING id, (xmax = 0) AS created`,
        [
          input.id,
          input.advertiserId,
          input.name,
          input.url ?? null,
          input.status ?? null,
          input.payout ?? null,
          input.currency ?? null,
          input.allowedCountries ?? null,
          input.maxConversionsPerClick ?? null,
          input.holdThreshold ?? null,
          input.rejectThreshold ?? null,
          has('url'),
          has('holdThreshold'),
          has('rejectThreshold'),
          input.openConversions ?? null,
          input.revenueModel ?? null,
          input.revenue ?? null,
          input.payoutModel ?? null,
        ],
      );
      return { offer: (await this.findOffer(input.id))!, created: rows[0].created };
    } catch (e) {
      if ((e as { code?: string }).code === '23503') throw new UnknownReferenceError('advertiserId', input.advertiserId);
      throw termsViolation(e) ?? e;
    }
  }

  async snapshot(): Promise<CatalogSnapshot> {
    const [a, o, p] = await Promise.all([
      this.pool.query(`SELECT ${advertiserColumns} FROM advertisers`),
      this.pool.query(offerSelect),
      this.pool.query('SELECT id, name, status FROM publishers'),
    ]);
    return { advertisers: a.rows.map(toAdvertiser), offers: o.rows.map(toOffer), publishers: p.rows as Publisher[] };
  }

  async findOffer(id: string): Promise<Offer | null> {
    const { rows } = await this.pool.query(`${offerSelect} WHERE id = $1`, [id]);
    return rows.length ? toOffer(rows[0]) : null;
  }

  /** The offers of `ids` that exist, in one query (the caches' look-ups of ids they do not hold). */
  async findOffers(ids: readonly string[]): Promise<Offer[]> {
    const { rows } = await this.pool.query(`${offerSelect} WHERE id = ANY($1::text[])`, [ids]);
    return rows.map(toOffer);
  }

  async findPublishers(ids: readonly string[]): Promise<Publisher[]> {
    const { rows } = await this.pool.query('SELECT id, name, status FROM publishers WHERE id = ANY($1::text[])', [ids]);
    return rows as Publisher[];
  }

  async findAdvertisers(ids: readonly string[]): Promise<Advertiser[]> {
    const { rows } = await this.pool.query(`SELECT ${advertiserColumns} FROM advertisers WHERE id = ANY($1::text[])`, [ids]);
    return rows.map(toAdvertiser);
  }

  /** Sets a publisher's own payout on an offer; false when the offer or the publisher does not exist. */
  async setPublisherPayout(offerId: string, publisherId: string, terms: PublisherPayout): Promise<boolean> {
    try {
      await this.pool.query(
        `INSERT INTO offer_payouts (offer_id, publisher_id, payout_model, payout) VALUES ($1, $2, $3, $4)
         ON CONFLICT (offer_id, publisher_id) DO UPDATE SET payout_model = EXCLUDED.payout_model, payout = EXCLUDED.payout, updated_at = now()`,
        [offerId, publisherId, terms.payoutModel, terms.payout],
      );
      return true;
    } catch (e) {
      if ((e as { code?: string }).code === '23503') return false;
      throw termsViolation(e) ?? e;
    }
  }

  /** Removes a publisher's own payout on an offer (the offer's applies again); false when there was none. */
  async removePublisherPayout(offerId: string, publisherId: string): Promise<boolean> {
    const { rowCount } = await this.pool.query('DELETE FROM offer_payouts WHERE offer_id = $1 AND publisher_id = $2', [
      offerId,
      publisherId,
    ]);
    return (rowCount ?? 0) > 0;
  }

  async findPublisher(id: string): Promise<Publisher | null> {
    const { rows } = await this.pool.query('SELECT id, name, status FROM publishers WHERE id = $1', [id]);
    return (rows[0] as Publisher) ?? null;
  }

  async findAdvertiser(id: string): Promise<Advertiser | null> {
    const { rows } = await this.pool.query(`SELECT ${advertiserColumns} FROM advertisers WHERE id = $1`, [id]);
    return rows.length ? toAdvertiser(rows[0]) : null;
  }
}

function toAdvertiser(r: Record<string, unknown>): Advertiser {
  return {
    id: r.id as string,
    name: r.name as string,
    status: r.status as Advertiser['status'],
    webhookUrl: (r.webhook_url as string) ?? null,
    postbackAllowedIps: (r.postback_allowed_ips as string[]) ?? [],
  };
}

function toOffer(r: Record<string, unknown>): Offer {
  return {
    id: r.id as string,
    advertiserId: r.advertiser_id as string,
    name: r.name as string,
    url: (r.url as string) ?? null,
    status: r.status as Offer['status'],
    revenueModel: r.revenue_model as Offer['revenueModel'],
    revenue: r.revenue as number,
    payoutModel: r.payout_model as Offer['payoutModel'],
    payout: r.payout as number,
    publisherPayouts: (r.publisher_payouts as Offer['publisherPayouts']) ?? {},
    currency: (r.currency as string).trim(),
    allowedCountries: r.allowed_countries as string[],
    maxConversionsPerClick: r.max_conversions_per_click as number,
    holdThreshold: (r.hold_threshold as number) ?? null,
    rejectThreshold: (r.reject_threshold as number) ?? null,
    openConversions: (r.open_conversions as boolean) ?? false,
  };
}
