import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import { Static, Type } from '@sinclair/typebox';
import { ApiKeyGuard, CurrentPrincipal, Roles } from '@app/auth';
import { ApiListResponse, ApiQueryFrom, QueryPipe, SchemaPipe, csvFile, plain, prefersCsv } from '@app/http';
import { Principal } from '@app/storage';
import { SAME_ROWS_AS_JSON, csvView } from '../csv-views';
import { BacktestService } from './backtest.service';

/** A rule set to try: `ruleset` is one layer when `scope` is given, else a whole configuration. */
export const CandidateInput = {
  scope: Type.Optional(
    Type.String({
      pattern: '^(network|(advertiser|offer):[A-Za-z0-9_-]{1,64})$',
      description: '`network`, `advertiser:ID` or `offer:ID`: `ruleset` replaces that layer of the active configuration',
    }),
  ),
  ruleset: Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()], {
    description: 'a layer (with `scope`; null removes the layer) or a whole configuration as GET /v1/admin/rulesets returns it',
  }),
};

const BacktestInput = Type.Object(
  {
    from: Type.String({ format: 'date-time', description: 'start of the range (inclusive), by event time' }),
    to: Type.String({ format: 'date-time', description: 'end of the range (exclusive)' }),
    warmupHours: Type.Optional(
      Type.Number({
        minimum: 0,
        maximum: 744,
        description: 'hours before `from` replayed to rebuild the windows; default SCORER_REPLAY_HOURS',
      }),
    ),
    ...CandidateInput,
  },
  { additionalProperties: false },
);
const ListQuery = Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }) }, { additionalProperties: false });

const JOB_EXAMPLE = {
  id: 'bt_4f1c2a9e0b7d3a55',
  status: 'done',
  request: {
    from: '2026-11-19T00:00:00.000Z',
    to: '2026-11-20T00:00:00.000Z',
    warmupHours: 24,
    activeVersion: 12,
    candidate: 'offer:game-install',
    changes: [{ path: 'offers.game-install.rules.CTIT_TOO_SHORT.minSeconds.install', op: 'changed', from: 10, to: 15 }],
  },
  progress: { done: 182344, total: 182344 },
  result: {
    activeVersion: 'v12',
    candidateVersion: 'v13',
    events: { warmup: 90211, clicks: 88790, conversions: 3343 },
    conversions: {
      active: { approved: 3120, hold: 141, rejected: 82 },
      candidate: { approved: 3071, hold: 141, rejected: 131 },
      changed: 49,
      transitions: { 'approved→rejected': 49 },
      byReason: { CTIT_TOO_SHORT: { added: 49, removed: 0 } },
      byPublisher: [{ id: 'blog', changed: 31, payoutWithheld: 139.5, payoutReleased: 0, revenueWithheld: 620, revenueReleased: 0 }],
      byOffer: [{ id: 'game-install', changed: 49, payoutWithheld: 220.5, payoutReleased: 0, revenueWithheld: 980, revenueReleased: 0 }],
      money: { payoutWithheld: 220.5, payoutReleased: 0, revenueWithheld: 980, revenueReleased: 0 },
      quality: {
        active: { labelled: 410, truePositives: 51, falsePositives: 3, falseNegatives: 40, precision: 0.9444, recall: 0.5604 },
        candidate: { labelled: 410, truePositives: 86, falsePositives: 5, falseNegatives: 5, precision: 0.9451, recall: 0.9451 },
      },
      examples: [
        {
          conversionId: '0193a5b2-0d1e-7c3a-9f00-6a1b2c3d4e5f',
          publisherId: 'blog',
          offerId: 'game-install',
          from: 'approved',
          to: 'rejected',
          added: ['CTIT_TOO_SHORT'],
          removed: [],
        },
      ],
    },
    clicks: { active: { valid: 80211, invalid: 8579 }, candidate: { valid: 80211, invalid: 8579 }, changed: 0 },
    recorded: { compared: 92133, activeSame: 92133, candidateSame: 92084 },
    seconds: 3.9,
    eventsPerSecond: 46754,
  },
  error: null,
  createdBy: { keyId: '0193a5b2-…', label: 'risk-team' },
};
const JOB_CSV = csvView(
  [
    'id',
    'status',
    'request',
    'progress.done',
    'progress.total',
    'error',
    'createdBy.keyId',
    'createdBy.label',
    'createdAt',
    'updatedAt',
    'finishedAt',
  ],
  { ...JOB_EXAMPLE, createdAt: '2026-11-20T10:00:00.000Z', updatedAt: '2026-11-20T10:00:04.000Z', finishedAt: '2026-11-20T10:00:04.000Z' },
);

/**
 * Backtests: what a rule-set change would have decided on stored traffic, replayed through the
 * scorer's own engine beside the active rules. A job; poll it for progress and the answer.
 */
@ApiTags('admin')
@ApiBearerAuth()
@Controller('v1/admin/rulesets/backtest')
@UseGuards(ApiKeyGuard)
@Roles('admin')
export class BacktestController {
  constructor(private readonly backtests: BacktestService) {}

  @Post()
  @HttpCode(202)
  @ApiOperation({
    summary: 'Backtest a candidate rule set on stored events of a range (starts a job)',
    description:
      'Events of the range are replayed in the order the scorer consumed them, through the engine with the active rule set and the ' +
      'candidate side by side, each with windows rebuilt from `warmupHours` before the range. The answer: decisions that would change ' +
      '(by status, reason code, publisher and offer), the payout and revenue withheld or released, precision and recall where labels exist ' +
      '(advertiser feedback, analyst decisions, stored labels), and how both sides compare with what was recorded.',
  })
  @ApiBody({
    schema: plain(BacktestInput),
    examples: {
      layer: {
        value: {
          from: '2026-11-19T00:00:00Z',
          to: '2026-11-20T00:00:00Z',
          scope: 'offer:game-install',
          ruleset: { rules: { CTIT_TOO_SHORT: { minSeconds: { install: 15 } } } },
        },
      },
    },
  })
  @ApiResponse({
    status: 202,
    description: 'the job, running; poll GET /v1/admin/rulesets/backtest/{id}',
    schema: { example: { ...JOB_EXAMPLE, status: 'running', result: null } },
  })
  @ApiResponse({ status: 400, description: 'invalid range or rule set' })
  @ApiResponse({ status: 429, description: 'too many backtests running' })
  @ApiResponse({
    status: 503,
    description: 'the active model cannot be loaded (error `model_unavailable`; GET /health is degraded until it loads)',
  })
  start(@Body(new SchemaPipe(BacktestInput)) body: Static<typeof BacktestInput>, @CurrentPrincipal() who: Principal) {
    return this.backtests.startRequested(body, who.keyId);
  }

  @Get()
  @ApiOperation({ summary: 'Recent backtest jobs, newest first (without their answers)' })
  @ApiQueryFrom(ListQuery)
  @ApiListResponse([{ ...JOB_EXAMPLE, result: null }], JOB_CSV.example, `${SAME_ROWS_AS_JSON}, the request as JSON`)
  async list(@Query(new QueryPipe(ListQuery)) q: Static<typeof ListQuery>, @Headers('accept') accept?: string) {
    const jobs = await this.backtests.list(q.limit);
    return prefersCsv(accept) ? csvFile(jobs, JOB_CSV.columns, 'backtests.csv') : jobs;
  }

  @Get(':id')
  @ApiOperation({ summary: 'One backtest job: its progress, and its answer once done' })
  @ApiParam({ name: 'id', example: 'bt_4f1c2a9e0b7d3a55' })
  @ApiResponse({ status: 200, schema: { example: JOB_EXAMPLE } })
  @ApiResponse({ status: 404 })
  find(@Param('id') id: string) {
    return this.backtests.find(id);
  }
}
