import { Controller, Get, Headers, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Static } from '@sinclair/typebox';
import { ApiKeyGuard, CurrentPrincipal, Roles } from '@app/auth';
import { ApiListResponse, ApiQueryFrom, QueryPipe, csvFile, pagedList, prefersCsv } from '@app/http';
import { EnforcementService } from '@app/enforcement';
import { Principal, QueryRepository } from '@app/storage';
import { PublisherStatsQuery, RejectionsQuery, range } from '../api-schemas';
import { StatsService, statsAnswer } from '../stats.service';
import { PUBLISHER_REJECTION_CSV, publisherRejection } from './publisher-view';
import { csvView } from '../csv-views';
import { BLOCK_REASON_EXAMPLE } from '../enforcement-examples';

/** What a publisher reads about its own traffic: every rejection and why, and its KPIs. */
const STATS_EXAMPLE = {
  rows: [
    {
      bucket: '2026-11-20T00:00:00.000Z',
      offerId: 'shoes',
      clicks: 1200,
      uniqueClicks: 1180,
      invalidClicks: 64,
      invalidRate: 0.0533,
      conversions: 31,
      approved: 27,
      rejected: 3,
      held: 1,
      conversionRate: 0.0258,
      approvalRate: 0.871,
      payout: 121.5,
      epc: 0.1013,
      rejectionsByReason: { IP_VELOCITY: 40, CTIT_TOO_SHORT: 2 },
    },
  ],
};

const PUBLISHER_BLOCK_EXAMPLE = {
  id: 'blk-3f9a01c2d4e5',
  offerId: 'shoes',
  subId: 'rw1',
  since: '2026-11-21T14:00:00.000Z',
  until: '2026-11-22T14:00:00.000Z',
  reason: { ...BLOCK_REASON_EXAMPLE, title: 'Blocked by an enforcement policy' },
};
const PUBLISHER_BLOCK_CSV = csvView(
  ['id', 'offerId', 'subId', 'since', 'until', 'reason.code', 'reason.title', 'reason.message', 'reason.evidence'],
  PUBLISHER_BLOCK_EXAMPLE,
);

@ApiTags('publisher')
@ApiBearerAuth()
@Controller('v1/publisher')
@UseGuards(ApiKeyGuard)
@Roles('publisher')
export class PublisherController {
  constructor(
    private readonly queries: QueryRepository,
    private readonly kpis: StatsService,
    private readonly enforcement: EnforcementService,
  ) {}

  @Get('blocks')
  @ApiOperation({
    summary: 'Your traffic blocked by the network now, and why',
    description:
      'Blocks in force on you or one of your sub-ids, on an offer or network-wide, each with its end and the reason your clicks and' +
      ' conversions get meanwhile (ENFORCEMENT_BLOCK): the rate the network measured, over how much traffic, in which window, and the limit.',
  })
  @ApiListResponse([PUBLISHER_BLOCK_EXAMPLE], PUBLISHER_BLOCK_CSV.example, 'every block in force, the evidence as JSON')
  async blocks(@CurrentPrincipal() me: Principal, @Headers('accept') accept?: string) {
    const blocks = await this.enforcement.publisherBlocks(me.subjectId!);
    return prefersCsv(accept) ? csvFile(blocks, PUBLISHER_BLOCK_CSV.columns, 'blocks.csv') : blocks;
  }

  @Get('rejections')
  @ApiOperation({
    summary: 'Your rejected clicks and conversions, with reasons',
    description:
      'Invalid clicks and rejected conversions of your traffic, newest first, each with every reason code that fired, its evidence and a plain message.' +
      ' Visitors’ IP addresses are masked (/24, /48). Page with `cursor`.',
  })
  @ApiQueryFrom(RejectionsQuery)
  @ApiListResponse(
    {
      items: [
        {
          kind: 'click',
          id: 'c0.0193e0f2-6a7b-7c3d-9e8f-123456789abc',
          ts: '2026-11-20T14:03:11.000Z',
          offerId: 'shoes',
          subId: 'spring',
          status: 'invalid',
          ip: '203.0.113.x',
          country: 'US',
          reasons: [
            {
              code: 'IP_VELOCITY',
              title: 'Too many clicks from one IP',
              category: 'SIVT',
              message: '37 clicks came from this IP address in the last minute (limit 20).',
              evidence: { window: 'minute', count: 37, limit: 20 },
            },
          ],
        },
      ],
      next: 'WyIyMDI2LTExLTIwVDE0OjAzOjExLjAwMFoiLCJjMC4wMTkzZTBmMiJd',
    },
    'kind,id,ts,offerId,subId,status,ip,country,userAgent,payout,reasonCodes,messages,reasons\nclick,c0.0193e0f2-6a7b-7c3d-9e8f-123456789abc,2026-11-20T14:03:11.000Z,shoes,spring,invalid,203.0.113.x,US,Mozilla/5.0 …,,IP_VELOCITY,37 clicks came from this IP address in the last minute (limit 20).,"[{""code"":""IP_VELOCITY"",…}]"\n',
  )
  async rejections(
    @Query(new QueryPipe(RejectionsQuery)) q: Static<typeof RejectionsQuery>,
    @CurrentPrincipal() me: Principal,
    @Headers('accept') accept?: string,
  ) {
    const filter = { publisherId: me.subjectId!, ...range(q), offerId: q.offerId, subId: q.subId, kind: q.kind };
    const page = async (limit: number, after?: { ts: string; id: string }) => {
      const found = await this.queries.rejections({ ...filter, limit, after });
      return { items: found.items.map(publisherRejection), next: found.next };
    };
    return pagedList(accept, q, page, { columns: PUBLISHER_REJECTION_CSV, filename: 'rejections.csv' });
  }

  @Get('stats')
  @ApiOperation({
    summary: 'Your KPIs by hour or day, per offer or sub-id',
    description: 'Clicks (gross, unique, invalid), conversions by status, your approved payout, EPC, and rejections by reason.',
  })
  @ApiQueryFrom(PublisherStatsQuery)
  @ApiListResponse(
    STATS_EXAMPLE,
    'bucket,offerId,clicks,uniqueClicks,invalidClicks,invalidRate,conversions,approved,rejected,held,conversionRate,approvalRate,payout,epc,rejectionsByReason\n2026-11-20T00:00:00.000Z,shoes,1200,1180,64,0.0533,31,27,3,1,0.0258,0.871,121.5,0.1013,"{""IP_VELOCITY"":40,""CTIT_TOO_SHORT"":2}"\n',
  )
  async stats(
    @Query(new QueryPipe(PublisherStatsQuery)) q: Static<typeof PublisherStatsQuery>,
    @CurrentPrincipal() me: Principal,
    @Headers('accept') accept?: string,
  ) {
    const rows = await this.kpis.rows(q, { publisherId: me.subjectId! });
    // A publisher sees its own earnings and quality, not the advertiser's revenue or the network's margin.
    const view = rows.map((r) => ({
      bucket: r.bucket,
      ...(r.group.offer_id !== undefined ? { offerId: r.group.offer_id } : {}),
      ...(r.group.sub_id !== undefined ? { subId: r.group.sub_id } : {}),
      clicks: r.clicks,
      uniqueClicks: r.uniqueClicks,
      invalidClicks: r.invalidClicks,
      invalidRate: r.invalidRate,
      conversions: r.conversions,
      approved: r.approved,
      rejected: r.rejected,
      held: r.held,
      conversionRate: r.conversionRate,
      approvalRate: r.approvalRate,
      payout: r.payout,
      epc: r.epc,
      rejectionsByReason: r.reasons,
    }));
    // Aggregates (one row per bucket and group) come from the KPI views in one query; the CSV is written as it streams out.
    return statsAnswer(accept, view, STATS_EXAMPLE.rows[0]);
  }
}
