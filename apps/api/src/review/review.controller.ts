import { Body, Controller, Get, Headers, HttpCode, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { Static } from '@sinclair/typebox';
import { ApiKeyGuard, CurrentPrincipal, Roles } from '@app/auth';
import { FeedbackService } from '@app/feedback';
import {
  ApiListResponse,
  ApiQueryFrom,
  CSV_PAGE_SIZE,
  QueryPipe,
  SchemaPipe,
  allPages,
  csvFile,
  csvText,
  decodeCursor,
  encodeCursor,
  plain,
  prefersCsv,
} from '@app/http';
import { OutcomeRepository, Principal, QueryRepository, ReviewRepository } from '@app/storage';
import { QueueQuery, ReviewActionsQuery, ReviewInput } from '../api-schemas';
import { DECISION_EXAMPLE } from '../examples';
import { DECISION_CSV, REVIEW_ACTION_CSV } from '../csv-views';

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
    private readonly outcomes: OutcomeRepository,
    private readonly reviews: ReviewRepository,
    private readonly feedback: FeedbackService,
  ) {}

  @Get('queue')
  @ApiOperation({ summary: 'Conversions on hold, the ones resolving soonest first' })
  @ApiQueryFrom(QueueQuery)
  @ApiListResponse({ items: [HOLD_EXAMPLE], next: null }, csvText([HOLD_EXAMPLE], DECISION_CSV))
  async queue(@Query(new QueryPipe(QueueQuery)) q: Static<typeof QueueQuery>, @Headers('accept') accept?: string) {
    const filter = { advertiserId: q.advertiserId, publisherId: q.publisherId };
    const after = decodeCursor(q.cursor);
    if (prefersCsv(accept)) {
      const rows = allPages((next) => this.queries.openHolds({ ...filter, limit: CSV_PAGE_SIZE, after: next }), after);
      return csvFile(rows, DECISION_CSV, 'review-queue.csv');
    }
    const page = await this.queries.openHolds({ ...filter, limit: q.limit, after });
    return { items: page.items, next: encodeCursor(page.next) };
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
    const after = decodeCursor(q.cursor);
    if (prefersCsv(accept)) {
      const rows = allPages((next) => this.reviews.list({ ...filter, limit: CSV_PAGE_SIZE, after: next }), after);
      return csvFile(rows, REVIEW_ACTION_CSV, 'review-actions.csv');
    }
    const page = await this.reviews.list({ ...filter, limit: q.limit, after });
    return { items: page.items, next: encodeCursor(page.next) };
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
    const results = [];
    for (const item of body.decisions) {
      const current = await this.outcomes.findDecision(item.conversionId);
      if (!current) {
        results.push({ conversionId: item.conversionId, result: 'not_found' });
        continue;
      }
      await this.reviews.record({
        actor: me.keyId,
        conversionId: item.conversionId,
        previousStatus: current.status,
        requestedStatus: item.status,
        note: body.note ?? null,
      });
      const r = await this.feedback.submit(
        { conversionId: item.conversionId, status: item.status, ...(body.note ? { reason: body.note } : {}) },
        me,
      );
      // A refusal says why (its field errors or message), not only that it was refused.
      const { status: result, ...why } = r;
      results.push({ conversionId: item.conversionId, result, previousStatus: current.status, ...(result === 'accepted' ? {} : why) });
    }
    return { results };
  }
}
