import { Body, Controller, Get, Headers, HttpCode, Post, Put, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { Static } from '@sinclair/typebox';
import { ApiKeyGuard, CurrentPrincipal, Roles } from '@app/auth';
import { ApiListResponse, ApiQueryFrom, pagedList, plain, QueryPipe, SchemaPipe } from '@app/http';
import { Principal, QueryRepository, WebhookRepository } from '@app/storage';
import { ApiKeysService } from '../admin/api-keys.service';
import { AdvertiserStatsQuery, DecisionsQuery, WebhookInput, range } from '../api-schemas';
import { StatsService, statsAnswer } from '../stats.service';
import { WebhooksService } from './webhooks.service';
import { DECISION_EXAMPLE } from '../examples';
import { DECISION_CSV, DECISION_CSV_EXAMPLE } from '../csv-views';
import { WebhookAttemptsQuery } from '../postbacks/postback.schemas';
import { ADVERTISER_ATTEMPT_CSV, ADVERTISER_ATTEMPT_CSV_EXAMPLE, ADVERTISER_ATTEMPT_EXAMPLE } from '../postbacks/postback-views';
import { advertiserAttempt, attemptPosition } from '../postbacks/postbacks.service';

/** An advertiser's decisions, KPIs and webhook. Decisions are also pushed: NATS and the webhook. */
const STATS_EXAMPLE = {
  rows: [
    {
      bucket: '2026-11-20T00:00:00.000Z',
      group: { offer_id: 'shoes' },
      clicks: 5400,
      conversions: 140,
      approved: 121,
      revenue: 9120,
      payout: 544.5,
      savedPayout: 61.2,
    },
  ],
};

@ApiTags('advertiser')
@ApiBearerAuth()
@Controller('v1/advertiser')
@UseGuards(ApiKeyGuard)
@Roles('advertiser')
export class AdvertiserController {
  constructor(
    private readonly queries: QueryRepository,
    private readonly kpis: StatsService,
    private readonly webhooks: WebhooksService,
    private readonly attempts: WebhookRepository,
    private readonly keys: ApiKeysService,
  ) {}

  @Get('decisions')
  @ApiOperation({
    summary: 'Your conversions’ decisions, newest first',
    description: 'Current revision of each decision, with reasons and evidence. Page with `cursor`.',
  })
  @ApiQueryFrom(DecisionsQuery)
  @ApiListResponse({ items: [DECISION_EXAMPLE], next: null }, DECISION_CSV_EXAMPLE)
  async decisions(
    @Query(new QueryPipe(DecisionsQuery)) q: Static<typeof DecisionsQuery>,
    @CurrentPrincipal() me: Principal,
    @Headers('accept') accept?: string,
  ) {
    const filter = { advertiserId: me.subjectId!, ...range(q), status: q.status, offerId: q.offerId, publisherId: q.publisherId };
    return pagedList(accept, q, (limit, after) => this.queries.decisions({ ...filter, limit, after }), {
      columns: DECISION_CSV,
      filename: 'decisions.csv',
    });
  }

  @Get('stats')
  @ApiOperation({
    summary: 'Your KPIs by hour or day, per offer, publisher or sub-id',
    description: 'Clicks, conversions by status, revenue, payout, fraud rates and saved payout (DESIGN §7).',
  })
  @ApiQueryFrom(AdvertiserStatsQuery)
  @ApiListResponse(
    STATS_EXAMPLE,
    'bucket,group.offer_id,clicks,conversions,approved,revenue,payout,savedPayout\n2026-11-20T00:00:00.000Z,shoes,5400,140,121,9120,544.5,61.2\n',
  )
  async stats(
    @Query(new QueryPipe(AdvertiserStatsQuery)) q: Static<typeof AdvertiserStatsQuery>,
    @CurrentPrincipal() me: Principal,
    @Headers('accept') accept?: string,
  ) {
    const rows = await this.kpis.rows(q, { advertiserId: me.subjectId! });
    // The network's margin (the advertiser's revenue less the publishers' payout) is the network's business.
    const view = rows.map(({ margin: _margin, marginRate: _marginRate, ...row }) => row);
    return statsAnswer(accept, view, STATS_EXAMPLE.rows[0], ['group']);
  }

  @Get('webhook')
  @ApiOperation({ summary: 'Your webhook: where decisions go, its health, the latest attempts' })
  @ApiResponse({
    status: 200,
    schema: {
      example: {
        url: 'https://shop.example/arbiter',
        status: 'active',
        consecutiveFailures: 0,
        failedDeliveries: 0,
        parkedAt: null,
        recentAttempts: [],
      },
    },
  })
  webhook(@CurrentPrincipal() me: Principal) {
    return this.webhooks.status(me.subjectId!);
  }

  @Get('webhook/attempts')
  @ApiOperation({ summary: 'Your webhook’s delivery attempts, newest first', description: 'Page with `cursor`.' })
  @ApiQueryFrom(WebhookAttemptsQuery)
  @ApiListResponse({ items: [ADVERTISER_ATTEMPT_EXAMPLE], next: null }, ADVERTISER_ATTEMPT_CSV_EXAMPLE)
  webhookAttempts(
    @Query(new QueryPipe(WebhookAttemptsQuery)) q: Static<typeof WebhookAttemptsQuery>,
    @CurrentPrincipal() me: Principal,
    @Headers('accept') accept?: string,
  ) {
    const page = (limit: number, after?: { ts: string; id: string }) =>
      this.attempts
        .attemptsPage({ owner: 'advertiser', advertiserId: me.subjectId!, limit, after: attemptPosition(after) })
        .then((p) => ({ items: p.items.map(advertiserAttempt), next: p.next }));
    return pagedList(accept, q, page, { columns: ADVERTISER_ATTEMPT_CSV, filename: 'webhook-attempts.csv' });
  }

  @Put('webhook')
  @ApiOperation({
    summary: 'Set (or remove) your webhook',
    description:
      'Every decision and every later revision is POSTed there, signed with HMAC-SHA256 (see docs/webhooks.md). The signing secret is returned when it is' +
      ' created or rotated, and only then. Setting the webhook also un-parks it.',
  })
  @ApiBody({
    schema: plain(WebhookInput),
    examples: {
      set: { value: { url: 'https://shop.example/arbiter' } },
      rotate: { value: { url: 'https://shop.example/arbiter', rotateSecret: true } },
    },
  })
  @ApiResponse({
    status: 200,
    schema: {
      example: {
        url: 'https://shop.example/arbiter',
        status: 'active',
        secret: 'whsec_Xk2…',
        note: 'store the secret now: it is not shown again',
      },
    },
  })
  async setWebhook(@Body(new SchemaPipe(WebhookInput)) body: Static<typeof WebhookInput>, @CurrentPrincipal() me: Principal) {
    const secret = await this.webhooks.set(me.subjectId!, body.url, { rotateSecret: body.rotateSecret });
    return { url: body.url, status: 'active', ...(secret ? { secret, note: 'store the secret now: it is not shown again' } : {}) };
  }

  @Post('postback-token')
  @HttpCode(201)
  @ApiOperation({
    summary: 'Create (rotate) your postback token',
    description:
      'A credential that only sends conversions: `token=` on `GET /postback`, or the `X-Postback-Token` header on `POST /v1/conversions`. A new token revokes' +
      ' the previous one (effective within 10 s). Shown once; only its hash is stored.',
  })
  @ApiResponse({
    status: 201,
    schema: {
      example: {
        id: '0193e0f2-…',
        token: 'arb_pbt_N0t4R3alT0k3n…',
        revokedPrevious: 1,
        note: 'store the token now: it is not shown again',
      },
    },
  })
  rotatePostbackToken(@CurrentPrincipal() me: Principal) {
    return this.keys.rotatePostbackToken(me.subjectId!);
  }

  @Post('webhook/replay')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Deliver again what your webhook could not take',
    description: 'Dead-lettered deliveries go back on the queue; the endpoint is un-parked.',
  })
  @ApiResponse({ status: 200, schema: { example: { requeued: 12 } } })
  replay(@CurrentPrincipal() me: Principal) {
    return this.webhooks.replay(me.subjectId!, me.keyId);
  }
}
