import type { Pool } from 'pg';
import type { Advertiser, AdvertiserInput, Offer, OfferInput, Publisher, PublisherInput } from '@app/contracts';

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

export interface CatalogSnapshot {
  advertisers: Advertiser[];
  offers: Offer[];
  publishers: Publisher[];
}

const offerColumns = `id, advertiser_id, name, url, status, payout, currency, allowed_countries, max_conversions_per_click, hold_threshold, reject_threshold, open_conversions`;
const advertiserColumns = `id, name, status, webhook_url, postback_allowed_ips`;

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
                             max_conversions_per_click, hold_threshold, reject_threshold, open_conversions)
         VALUES ($1, $2, $3, $4, coalesce($5::text, 'active'), coalesce($6::numeric, 0), coalesce($7::text, 'USD'),
                 coalesce($8::text[], '{}'), coalesce($9::integer, 1), $10::real, $11::real, coalesce($15::boolean, false))
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
           updated_at = now()
         RETURNING ${offerColumns}, (xmax = 0) AS created`,
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
        ],
      );
      return { offer: toOffer(rows[0]), created: rows[0].created };
    } catch (e) {
      if ((e as { code?: string }).code === '23503') throw new UnknownReferenceError('advertiserId', input.advertiserId);
      throw e;
    }
  }

  async snapshot(): Promise<CatalogSnapshot> {
    const [a, o, p] = await Promise.all([
      this.pool.query(`SELECT ${advertiserColumns} FROM advertisers`),
      this.pool.query(`SELECT ${offerColumns} FROM offers`),
      this.pool.query('SELECT id, name, status FROM publishers'),
    ]);
    return { advertisers: a.rows.map(toAdvertiser), offers: o.rows.map(toOffer), publishers: p.rows as Publisher[] };
  }

  async findOffer(id: string): Promise<Offer | null> {
    const { rows } = await this.pool.query(`SELECT ${offerColumns} FROM offers WHERE id = $1`, [id]);
    return rows.length ? toOffer(rows[0]) : null;
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
    payout: r.payout as number,
    currency: (r.currency as string).trim(),
    allowedCountries: r.allowed_countries as string[],
    maxConversionsPerClick: r.max_conversions_per_click as number,
    holdThreshold: (r.hold_threshold as number) ?? null,
    rejectThreshold: (r.reject_threshold as number) ?? null,
    openConversions: (r.open_conversions as boolean) ?? false,
  };
}
