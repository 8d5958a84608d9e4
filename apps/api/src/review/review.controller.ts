import { Body, Controller, Get, HttpCode, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { Static } from '@sinclair/typebox';
import { ApiKeyGuard, CurrentPrincipal, Roles } from '@app/auth';
import { FeedbackService } from '@app/feedback';
import { ApiQueryFrom, QueryPipe, SchemaPipe, decodeCursor, encodeCursor, plain } from '@app/http';
import { OutcomeRepository, Principal, QueryRepository, ReviewRepository } from '@app/storage';
import { QueueQuery, ReviewActionsQuery, ReviewInput } from '../api-schemas';
import { DECISION_EXAMPLE } from '../examples';

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
  @ApiResponse({
    status: 200,
    schema: { example: { items: [{ ...DECISION_EXAMPLE, status: 'hold', holdUntil: '2026-11-21T14:09:42.011Z' }], next: null } },
  })
  async queue(@Query(new QueryPipe(QueueQuery)) q: Static<typeof QueueQuery>) {
    const page = await this.queries.openHolds({
      advertiserId: q.advertiserId,
      publisherId: q.publisherId,
      limit: q.limit,
      after: decodeCursor(q.cursor),
    });
    return { items: page.items, next: encodeCursor(page.next) };
  }

  @Get('actions')
  @ApiOperation({
    summary: 'The audit of review actions: who asked for what, when, on which conversion, from which status',
    description: 'Newest first. The resulting decision revisions (with the same actor) are in the decision history.',
  })
  @ApiQueryFrom(ReviewActionsQuery)
  @ApiResponse({
    status: 200,
    schema: {
      example: {
        items: [
          {
            id: '0193e0f2-8c9d-7e0f-9a1b-23456789abcd',
            at: '2026-11-20T15:00:00.000Z',
            actor: 'key_01',
            conversionId: DECISION_EXAMPLE.conversionId,
            previousStatus: 'hold',
            requestedStatus: 'approved',
            note: 'customer verified by phone',
          },
        ],
        next: null,
      },
    },
  })
  async actions(@Query(new QueryPipe(ReviewActionsQuery)) q: Static<typeof ReviewActionsQuery>) {
    const page = await this.reviews.list({ conversionId: q.conversionId, actor: q.actor, limit: q.limit, after: decodeCursor(q.cursor) });
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
