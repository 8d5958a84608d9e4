import { Body, Controller, Get, Headers, HttpCode, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { Static } from '@sinclair/typebox';
import { ApiKeyGuard, CurrentPrincipal, Roles } from '@app/auth';
import { ApiListResponse, ApiQueryFrom, QueryPipe, SchemaPipe, csvText, pagedList, plain } from '@app/http';
import { Principal, QueryRepository, ReviewRepository } from '@app/storage';
import { QueueQuery, ReviewActionsQuery, ReviewInput } from '../api-schemas';
import { DECISION_EXAMPLE } from '../examples';
import { DECISION_CSV, REVIEW_ACTION_CSV } from '../csv-views';
import { ReviewService } from './review.service';

const HOLD_EXAMPLE = { ...DECISION_EXAMPLE, status: 'hold' as const, holdUntil: '2026-11-21T14:09:42.011Z' };
const ACTION_EXAMPLE = {
  id: '0193e0f2-8c9d-7e0f-9a1b-23456789abcd',
  at: '2026-11-20T15:00:00.000Z',
  actor: 'key_01',
  conversionId: DECISION_EXAMPLE.conversionId,
  previousStatus: 'hold' as const,
  requestedStatus: 'approved' as const,
  note: 'customer verified by phone',
};

/**
 * The analysts' review queue: conversions on hold, with their evidence, and the decisions that
 * settle them — one or many at once, each audited (who, when, before, asked for) and published as
 * a new revision of the decision like any other.
 */
@ApiTags('review')
@ApiBearerAuth()
@Controller('v1/review')
@UseGuards(ApiKeyGuard)
@Roles('admin')
export class ReviewController {
  constructor(
    private readonly queries: QueryRepository,
    private readonly reviews: ReviewRepository,
    private readonly review: ReviewService,
  ) {}

  @Get('queue')
  @ApiOperation({ summary: 'Conversions on hold, the ones resolving soonest first' })
  @ApiQueryFrom(QueueQuery)
  @ApiListResponse({ items: [HOLD_EXAMPLE], next: null }, csvText([HOLD_EXAMPLE], DECISION_CSV))
  async queue(@Query(new QueryPipe(QueueQuery)) q: Static<typeof QueueQuery>, @Headers('accept') accept?: string) {
    const filter = { advertiserId: q.advertiserId, publisherId: q.publisherId };
    return pagedList(accept, q, (limit, after) => this.queries.openHolds({ ...filter, limit, after }), {
      columns: DECISION_CSV,
      filename: 'review-queue.csv',
    });
  }

  @Get('actions')
  @ApiOperation({
    summary: 'The audit of review actions: who asked for what, when, on which conversion, from which status',
    description: 'Newest first. The resulting decision revisions (with the same actor) are in the decision history.',
  })
  @ApiQueryFrom(ReviewActionsQuery)
  @ApiListResponse({ items: [ACTION_EXAMPLE], next: null }, csvText([ACTION_EXAMPLE], REVIEW_ACTION_CSV))
  async actions(@Query(new QueryPipe(ReviewActionsQuery)) q: Static<typeof ReviewActionsQuery>, @Headers('accept') accept?: string) {
    const filter = { conversionId: q.conversionId, actor: q.actor };
    return pagedList(accept, q, (limit, after) => this.reviews.list({ ...filter, limit, after }), {
      columns: REVIEW_ACTION_CSV,
      filename: 'review-actions.csv',
    });
  }

  @Post('decisions')
  @HttpCode(202)
  @ApiOperation({
    summary: 'Approve or reject one or many conversions',
    description: 'Each becomes an ANALYST_OVERRIDE revision, published to the advertiser; every request is audited.',
  })
  @ApiBody({
    schema: plain(ReviewInput),
    examples: {
      bulk: {
        value: { decisions: [{ conversionId: DECISION_EXAMPLE.conversionId, status: 'approved' }], note: 'customer verified by phone' },
      },
    },
  })
  @ApiResponse({
    status: 202,
    schema: { example: { results: [{ conversionId: DECISION_EXAMPLE.conversionId, result: 'accepted', previousStatus: 'hold' }] } },
  })
  async decide(@Body(new SchemaPipe(ReviewInput)) body: Static<typeof ReviewInput>, @CurrentPrincipal() me: Principal) {
    return { results: await this.review.decide(body.decisions, body.note, me) };
  }
}
