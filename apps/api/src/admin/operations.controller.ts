import { Body, Controller, Get, Headers, HttpCode, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { Static, Type } from '@sinclair/typebox';
import { ApiKeyGuard, CurrentPrincipal, Roles } from '@app/auth';
import { CatalogKey } from '@app/contracts';
import { ApiListResponse, ApiQueryFrom, QueryPipe, SchemaPipe, plain } from '@app/http';
import { Principal } from '@app/storage';
import { DeadLettersService } from './dead-letters.service';
import { NetworkStatsQuery } from '../api-schemas';
import { StatsService, statsAnswer } from '../stats.service';

const ReplayInput = Type.Object(
  { advertiserId: Type.Optional(CatalogKey), publisherId: Type.Optional(CatalogKey) },
  { additionalProperties: false },
);

/** Network-wide KPIs and webhook dead letters, for the network's own staff. */
const STATS_EXAMPLE = {
  rows: [
    {
      bucket: '2026-11-20T00:00:00.000Z',
      group: { publisher_id: 'blog' },
      clicks: 5400,
      invalidRate: 0.05,
      conversions: 140,
      revenue: 9120,
      payout: 544.5,
      margin: 8575.5,
      savedPayout: 61.2,
      reasons: { IP_VELOCITY: 212 },
    },
  ],
};

@ApiTags('admin')
@ApiBearerAuth()
@Controller('v1/admin')
@UseGuards(ApiKeyGuard)
@Roles('admin')
export class OperationsController {
  constructor(
    private readonly kpis: StatsService,
    private readonly deadLetters: DeadLettersService,
  ) {}

  @Get('stats')
  @ApiOperation({
    summary: 'Partner-value KPIs by hour or day, per publisher, offer, advertiser or sub-id',
    description: 'Every KPI of DESIGN §7, margin included.',
  })
  @ApiQueryFrom(NetworkStatsQuery)
  @ApiListResponse(
    STATS_EXAMPLE,
    'bucket,group.publisher_id,clicks,invalidRate,conversions,revenue,payout,margin,savedPayout,reasons\n2026-11-20T00:00:00.000Z,blog,5400,0.05,140,9120,544.5,8575.5,61.2,"{""IP_VELOCITY"":212}"\n',
  )
  async stats(@Query(new QueryPipe(NetworkStatsQuery)) q: Static<typeof NetworkStatsQuery>, @Headers('accept') accept?: string) {
    return statsAnswer(accept, await this.kpis.rows(q), STATS_EXAMPLE.rows[0], ['group']);
  }

  @Post('webhooks/replay')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Requeue dead-lettered webhook and postback deliveries (all, one advertiser’s webhook or one publisher’s postbacks)',
    description:
      'Parked endpoints concerned are un-parked first. The same audited replay as `POST /v1/admin/dead-letters/replay` narrowed to webhook deliveries.',
  })
  @ApiBody({
    schema: plain(ReplayInput),
    examples: { one: { value: { advertiserId: 'shop' } }, publisher: { value: { publisherId: 'blog' } }, all: { value: {} } },
  })
  @ApiResponse({ status: 200, schema: { example: { requeued: 3, unreadable: 0 } } })
  async replay(@Body(new SchemaPipe(ReplayInput)) body: Static<typeof ReplayInput>, @CurrentPrincipal() me: Principal) {
    return this.deadLetters.replayEndpoints(body, me.keyId);
  }
}
