import { SkipThrottle } from '@nestjs/throttler';
import { Controller, Get, Param, Query, Req, Res } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Inject } from '@nestjs/common';
import { ARBITER_CONFIG, ArbiterConfig } from '@app/config';
import { CatalogCache } from '@app/catalog';
import type { ClickEvent } from '@app/contracts';
import { LenientQuery } from '@app/http';
import { metrics } from '@app/observability';
import { ClickGuard } from './click-guard.service';
import { IngestAuthenticator } from './ingest-auth.service';
import { IngestLimiter } from './ingest-limiter';
import { IngestService } from './ingest.service';
import { singleBody, singleStatus, withStatus } from './ingest.controller';

type Query = Record<string, string | string[] | undefined>;

const first = (q: Query, ...names: string[]): string | undefined => {
  for (const n of names) {
    const v = q[n];
    if (v !== undefined) return Array.isArray(v) ? v[0] : v;
  }
  return undefined;
};

/** Numbers arrive as strings in a query; anything unparsable is kept so validation names the field. */
const numeric = (v: string | undefined): number | string | undefined =>
  v === undefined || v.trim() === '' || Number.isNaN(Number(v)) ? v : Number(v);

const defined = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

/**
 * The two ingest doors partners cannot send JSON through:
 * - `GET /c/:offerId?pub=<publisher>&sub=<sub id>` — the tracking link a visitor clicks: records
 *   the click (IP and user agent from the request) and redirects to the offer with the click id;
 * - `GET /postback?click_id=…&amount=…` — the advertiser's server-to-server conversion postback.
 */
@ApiTags('ingest')
// Not the API's budgets (neither per key nor per address): ingest has its own (IngestLimiter, GATEWAY_RATE_LIMIT_*).
@SkipThrottle({ default: true, ip: true })
@Controller()
export class TrackingController {
  constructor(
    private readonly ingest: IngestService,
    private readonly auth: IngestAuthenticator,
    private readonly limiter: IngestLimiter,
    private readonly catalog: CatalogCache,
    private readonly guard: ClickGuard,
    @Inject(ARBITER_CONFIG) private readonly config: ArbiterConfig,
  ) {}

  @Get('c/:offerId')
  // A visitor is always redirected and the click recorded, whatever the link's escapes: the query as sent.
  @LenientQuery()
  @ApiOperation({
    summary: 'Tracking link: record a click and redirect to the offer',
    description:
      'IP and user agent come from the request; the redirect carries the click id (`{click_id}` in the offer URL, else `click_id=`).' +
      ' When the rule set of the offer says `clickBlocking.mode: fallback`, a click the click-time checks find invalid (declared bot,' +
      ' script, data-centre or invalid address, deny list, enforcement block, suspended publisher) goes to the rule set’s fallback URL instead (or' +
      ' TRACKING_FALLBACK_URL), never to the advertiser; it is recorded and scored either way.',
  })
  @ApiParam({ name: 'offerId', example: 'shoes' })
  @ApiQuery({ name: 'pub', required: true, description: 'publisher id (also `publisher_id`, `aff_id`)', example: 'blog' })
  @ApiQuery({ name: 'sub', required: false, description: 'sub-id (also `sub_id`); `sub1`…`sub5`, `device_id` too', example: 'spring' })
  @ApiResponse({ status: 302, description: 'To the offer, with the click id (or to the fallback URL for a blocked click)' })
  @ApiResponse({
    status: 404,
    description: 'The offer has no landing page (the click was recorded)',
    schema: {
      example: { error: 'no_destination', message: 'offer "shoes" has no landing page; the click was recorded', clickId: 'c0.0193…' },
    },
  })
  @ApiResponse({ status: 400, description: 'Missing publisher' })
  async click(@Param('offerId') offerId: string, @Query() q: Query, @Req() request: FastifyRequest, @Res() reply: FastifyReply) {
    const subIds = defined({
      sub1: first(q, 'sub1'),
      sub2: first(q, 'sub2'),
      sub3: first(q, 'sub3'),
      sub4: first(q, 'sub4'),
      sub5: first(q, 'sub5'),
    });
    const click = defined({
      offerId,
      publisherId: first(q, 'pub', 'publisher_id', 'aff_id'),
      subId: first(q, 'sub', 'sub_id'),
      subIds: Object.keys(subIds).length ? subIds : undefined,
      deviceId: first(q, 'device_id'),
      ip: request.ip,
      userAgent: request.headers['user-agent'] ?? '',
      referrer: request.headers.referer,
    });
    this.limiter.take(IngestLimiter.budgetsOf({ sender: 'link' }, request.ip), 1, reply);
    const receivedAt = new Date();
    const [result] = await this.ingest.ingest('click', [click], receivedAt, { sender: 'link' });
    if (result.status !== 'accepted') return void withStatus(reply, singleStatus(result)).send(singleBody(result));
    await this.catalog.resolve({ offers: [offerId], publishers: click.publisherId ? [click.publisherId] : [] });
    const offer = this.catalog.offer(offerId) ?? null;
    // The click is recorded either way (the scorer gives it the same reasons, and its verdict); an
    // invalid one under a `fallback` rule set never reaches the advertiser.
    const { blocked, fallbackUrl } = this.guard.check(
      // The receipt time, as the scorer will see it: a block in force is judged at that time.
      { ...click, kind: 'click', id: result.id, ts: receivedAt.toISOString() } as ClickEvent,
      offer,
      this.catalog.publisher(click.publisherId ?? '') ?? null,
    );
    if (blocked) metrics.clicksBlocked.inc();
    const target = blocked ? (fallbackUrl ?? this.config.TRACKING_FALLBACK_URL) : (offer?.url ?? this.config.TRACKING_FALLBACK_URL);
    if (!target) {
      return void reply
        .code(404)
        .send({ error: 'no_destination', message: `offer "${offerId}" has no landing page; the click was recorded`, clickId: result.id });
    }
    reply.header('Cache-Control', 'no-store').redirect(withClickId(target, result.id), 302);
  }

  @Get('postback')
  // An advertiser's conversion is never refused for its encoding: the query as sent.
  @LenientQuery()
  @ApiOperation({
    summary: 'Server-to-server conversion postback',
    description:
      "For advertiser systems that can only call a URL: authenticate with the advertiser's postback token (`token=`) or key. Without one, only offers open" +
      ' to pixel conversions take it (`offer_id` required); a request without one spends its address budget before its offer is checked. Answers 200 on success' +
      ' (postback senders retry on anything else), 401 / 403 for a bad credential, 429 (`Retry-After`) over a budget.',
  })
  @ApiQuery({ name: 'click_id', required: true, example: 'c0.0193e0f2-6a7b-7c3d-9e8f-123456789abc' })
  @ApiQuery({ name: 'amount', required: true, example: '80.00', description: 'also `revenue`, `sum`' })
  @ApiQuery({ name: 'order_id', required: false, description: 'also `transaction_id`, `txn_id`' })
  @ApiQuery({ name: 'token', required: false, description: "the advertiser's postback token (or `Authorization: Bearer` with its key)" })
  @ApiQuery({
    name: 'payout',
    required: false,
    description: 'admin key only (backfill); otherwise ignored: the network computes the payout',
  })
  @ApiQuery({ name: 'currency', required: false, example: 'USD' })
  @ApiQuery({ name: 'type', required: false, example: 'sale' })
  @ApiQuery({ name: 'offer_id', required: false })
  @ApiQuery({
    name: 'id',
    required: false,
    description:
      "conversion id (minted when absent); yours alone: the answer's `id` is derived from it and the sender (docs/trust.md); an `s-…` id is refused",
  })
  @ApiResponse({ status: 200, schema: { example: { id: '0193e0f2-7b8c-7d9e-8f01-23456789abcd', duplicate: false } } })
  @ApiResponse({
    status: 429,
    description:
      "Over an ingest budget (`Retry-After`): the token's or key's, the source address's (without a credential), or the address's count of unknown keys and tokens this minute",
  })
  @ApiResponse({
    status: 400,
    schema: {
      example: { error: 'validation_failed', message: 'amount must be number', errors: [{ field: 'amount', message: 'must be number' }] },
    },
  })
  async postback(@Query() q: Query, @Req() request: FastifyRequest, @Res() reply: FastifyReply) {
    const from = await this.auth.admitConversions(request, reply, [first(q, 'offer_id')], 1);
    const conversion = defined({
      id: first(q, 'id', 'conversion_id'),
      ts: first(q, 'ts'),
      clickId: first(q, 'click_id', 'clickid'),
      offerId: first(q, 'offer_id'),
      orderId: first(q, 'order_id', 'transaction_id', 'txn_id'),
      amount: numeric(first(q, 'amount', 'revenue', 'sum')),
      // Postback templates often carry a payout macro; only the admin's is read (the network computes it).
      payout: from.sender === 'admin' ? numeric(first(q, 'payout')) : undefined,
      currency: first(q, 'currency'),
      type: first(q, 'type', 'event'),
      // The postback comes from the advertiser's server: its own address says nothing of the user.
      ip: first(q, 'ip'),
      userAgent: first(q, 'user_agent', 'ua'),
      deviceId: first(q, 'device_id'),
      country: first(q, 'country'),
    });
    const [result] = await this.ingest.ingest('conversion', [conversion], new Date(), from);
    // Postback senders retry on anything but 2xx, so success is a plain 200.
    withStatus(reply, result.status === 'accepted' ? 200 : singleStatus(result)).send(singleBody(result));
  }
}

/** `{click_id}` in the offer URL is replaced; otherwise `click_id` is appended. */
export function withClickId(url: string, clickId: string): string {
  const encoded = encodeURIComponent(clickId);
  if (url.includes('{click_id}')) return url.replaceAll('{click_id}', encoded);
  return `${url}${url.includes('?') ? '&' : '?'}click_id=${encoded}`;
}
