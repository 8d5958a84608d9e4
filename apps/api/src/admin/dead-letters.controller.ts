import { Body, Controller, Get, Headers, HttpCode, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { Static, Type } from '@sinclair/typebox';
import { ApiKeyGuard, CurrentPrincipal, Roles } from '@app/auth';
import { StringEnum } from '@app/contracts';
import { ApiListResponse, ApiQueryFrom, QueryPipe, SchemaPipe, csvFile, plain, prefersCsv } from '@app/http';
import type { Principal } from '@app/storage';
import { SAME_ROWS_AS_JSON, csvView } from '../csv-views';
import { DeadLettersService } from './dead-letters.service';

const Durable = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: '^[A-Za-z0-9_-]+$',
  description: 'a durable consumer, e.g. recorder-verdicts',
});
const Instant = (description: string) => Type.String({ format: 'date-time', description });
const Criteria = {
  consumer: Type.Optional(Durable),
  from: Type.Optional(Instant('dead-lettered at or after, ISO-8601')),
  to: Type.Optional(Instant('dead-lettered before, ISO-8601')),
  stream: Type.Optional(StringEnum(['DLQ', 'WEBHOOK_DLQ'] as const)),
};
const ListQuery = Type.Object(
  { ...Criteria, limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }) },
  { additionalProperties: false },
);
const ReplayInput = Type.Object(
  {
    ...Criteria,
    ids: Type.Optional(
      Type.Array(Type.String({ pattern: '^(DLQ|WEBHOOK_DLQ):[1-9][0-9]{0,15}$', description: '`<stream>:<sequence>` as listed' }), {
        minItems: 1,
        maxItems: 1000,
      }),
    ),
    all: Type.Optional(Type.Boolean({ description: 'replay every dead letter (needed when no other criterion is given)' })),
  },
  { additionalProperties: false },
);
const HistoryQuery = Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }) }, { additionalProperties: false });

const LETTER_EXAMPLE = {
  id: 'DLQ:42',
  stream: 'DLQ',
  seq: 42,
  at: '2026-12-01T21:40:00.000Z',
  consumer: 'recorder-verdicts',
  subject: 'arbiter.verdicts.conversion',
  sourceStream: 'VERDICTS',
  sourceSeq: 1834,
  eventId: 'dec_0193e0f2',
  error: 'contract violation: decision/score must be <= 1',
  errorType: 'PoisonMessageError',
  deliveries: 1,
  replays: 0,
  bytes: 812,
};

const REPLAY_EXAMPLE = {
  id: '0193e0f2-8c9d-7e0f-9a1b-23456789abcd',
  at: '2026-12-01T21:45:00.000Z',
  finishedAt: '2026-12-01T21:45:00.412Z',
  actor: 'key_01',
  filter: { ids: ['DLQ:42', 'DLQ:43'] },
  replayed: 1,
  byConsumer: { 'recorder-verdicts': 1 },
  deadLetters: ['DLQ:42'],
  missing: ['DLQ:43'],
  skipped: [],
};

const LETTER_CSV = csvView(Object.keys(LETTER_EXAMPLE), LETTER_EXAMPLE);
const REPLAY_CSV = csvView(Object.keys(REPLAY_EXAMPLE), REPLAY_EXAMPLE);

/**
 * The dead letters of every stream (events, verdicts, decisions, webhooks) for the network's own
 * staff: see why each was parked, and hand them back to the consumer that parked them.
 */
@ApiTags('admin')
@ApiBearerAuth()
@Controller('v1/admin/dead-letters')
@UseGuards(ApiKeyGuard)
@Roles('admin')
export class DeadLettersController {
  constructor(private readonly deadLetters: DeadLettersService) {}

  @Get()
  @ApiOperation({
    summary: 'Dead letters of every stream, oldest first: which consumer parked them, when, and why',
    description: 'Payloads are not shown (they carry end-user IPs). `more` says that others match beyond `limit`.',
  })
  @ApiQueryFrom(ListQuery)
  @ApiListResponse({ items: [LETTER_EXAMPLE], more: false }, LETTER_CSV.example, SAME_ROWS_AS_JSON)
  async list(@Query(new QueryPipe(ListQuery)) q: Static<typeof ListQuery>, @Headers('accept') accept?: string) {
    const letters = await this.deadLetters.list(q, q.limit);
    return prefersCsv(accept) ? csvFile(letters.items, LETTER_CSV.columns, 'dead-letters.csv') : letters;
  }

  @Post('replay')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Hand dead letters back to the consumer that parked them (by consumer, time range or ids)',
    description:
      'Each goes to its own consumer only (another consumer of the same stream does not see it twice) and leaves the dead letters; ' +
      'replaying again finds nothing (`missing` for ids). One that fails again is dead-lettered again. Every replay is audited ' +
      '(`GET /v1/admin/dead-letters/replays`). Webhook deliveries replayed here are not un-parked: use `POST /v1/admin/webhooks/replay` for that.',
  })
  @ApiBody({
    schema: plain(ReplayInput),
    examples: {
      consumer: { value: { consumer: 'recorder-verdicts', from: '2026-12-01T00:00:00Z' } },
      ids: { value: { ids: ['DLQ:42', 'DLQ:43'] } },
      all: { value: { all: true } },
    },
  })
  @ApiResponse({ status: 200, schema: { example: REPLAY_EXAMPLE } })
  replay(@Body(new SchemaPipe(ReplayInput)) body: Static<typeof ReplayInput>, @CurrentPrincipal() me: Principal) {
    return this.deadLetters.replayMatching(body, me.keyId);
  }

  @Get('replays')
  @ApiOperation({
    summary: 'The audit of dead-letter replays, newest first: who, when, with which criteria, what came of it',
    description:
      'A replay is recorded before it starts and completed when done: `finishedAt` is null while it runs, and stays null for one that was interrupted (its counts are then unknown).',
  })
  @ApiQueryFrom(HistoryQuery)
  @ApiListResponse({ items: [REPLAY_EXAMPLE] }, REPLAY_CSV.example, SAME_ROWS_AS_JSON)
  async replays(@Query(new QueryPipe(HistoryQuery)) q: Static<typeof HistoryQuery>, @Headers('accept') accept?: string) {
    const items = await this.deadLetters.history(q.limit);
    return prefersCsv(accept) ? csvFile(items, REPLAY_CSV.columns, 'dead-letter-replays.csv') : { items };
  }
}
