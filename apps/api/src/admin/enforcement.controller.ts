import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import { Static, Type } from '@sinclair/typebox';
import { ApiKeyGuard, CurrentPrincipal, Roles } from '@app/auth';
import { CatalogKey, StringEnum } from '@app/contracts';
import { EnforcementService } from '@app/enforcement';
import { ApiListResponse, ApiQueryFrom, QueryPipe, SchemaPipe, csvFile, plain, prefersCsv } from '@app/http';
import { Principal } from '@app/storage';
import { csvView } from '../csv-views';
import { BLOCK_REASON_EXAMPLE } from '../enforcement-examples';

const BlocksQuery = Type.Object(
  {
    status: Type.Optional(StringEnum(['active', 'expired', 'lifted'] as const, 'only blocks in this state')),
    publisherId: Type.Optional(Type.String({ ...CatalogKey, description: "only this publisher's blocks" })),
  },
  { additionalProperties: false },
);
const LiftBody = Type.Object(
  { note: Type.Optional(Type.String({ maxLength: 1000, description: 'why, for the audit (the publisher does not see it)' })) },
  { additionalProperties: false },
);
/** The body is optional: no body is no note. */
class LiftPipe extends SchemaPipe<typeof LiftBody> {
  constructor() {
    super(LiftBody);
  }
  override transform(value: unknown): Static<typeof LiftBody> {
    return super.transform(value ?? {});
  }
}

const BLOCK_EXAMPLE = {
  id: 'blk-3f9a01c2d4e5',
  publisherId: 'pub-31',
  subId: 'rw1',
  offerId: 'shoes',
  policy: 'network/invalid-subids',
  evidence: {
    metric: 'invalidRate',
    rate: 0.62,
    sample: 240,
    maxRate: 0.3,
    minSample: 100,
    windowHours: 6,
    from: '2026-11-21T08:00:00.000Z',
    to: '2026-11-21T14:00:00.000Z',
  },
  createdAt: '2026-11-21T14:00:00.000Z',
  until: '2026-11-22T14:00:00.000Z',
  status: 'active',
  reason: BLOCK_REASON_EXAMPLE,
};

const BLOCK_CSV = csvView(
  ['id', 'publisherId', 'subId', 'offerId', 'policy', 'status', 'createdAt', 'until', 'reason.code', 'reason.message', 'evidence'],
  BLOCK_EXAMPLE,
);

/**
 * Automatic enforcement: the blocks the rule sets' enforcement policies made (each one a rule-set
 * version, audited as `{ system: 'enforcement' }`), and lifting one (audited with the admin's key).
 */
@ApiTags('admin')
@ApiBearerAuth()
@Controller('v1/admin/enforcement')
@UseGuards(ApiKeyGuard)
@Roles('admin')
export class EnforcementController {
  constructor(private readonly enforcement: EnforcementService) {}

  @Get('blocks')
  @ApiOperation({
    summary: 'Enforcement blocks: in force, and ended ones still remembered (newest first)',
    description:
      'A block refuses a publisher (or one of its sub-ids) on an offer or network-wide until `until`: its clicks are invalid and follow the' +
      ' offer’s `clickBlocking`, its conversions are rejected, both with ENFORCEMENT_BLOCK. Ended blocks (expired or lifted) are kept for' +
      ' their policy’s window: their evidence does not count again.',
  })
  @ApiQueryFrom(BlocksQuery)
  @ApiListResponse([BLOCK_EXAMPLE], BLOCK_CSV.example, 'every block matching the filters, the evidence as JSON')
  async blocks(@Query(new QueryPipe(BlocksQuery)) q: Static<typeof BlocksQuery>, @Headers('accept') accept?: string) {
    const blocks = await this.enforcement.blocks(q);
    return prefersCsv(accept) ? csvFile(blocks, BLOCK_CSV.columns, 'enforcement-blocks.csv') : blocks;
  }

  @Post('blocks/:id/lift')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Lift a block before its end',
    description:
      'Traffic flows again within a second (a new rule-set version, audited with your key and note). The policy that made the block' +
      ' blocks the target again only on traffic after the lift, never on the evidence it already used.',
  })
  @ApiParam({ name: 'id', example: 'blk-3f9a01c2d4e5' })
  @ApiBody({ schema: plain(LiftBody), required: false, examples: { note: { value: { note: 'partner fixed the placement' } } } })
  @ApiResponse({
    status: 200,
    schema: {
      example: {
        ...BLOCK_EXAMPLE,
        status: 'lifted',
        liftedAt: '2026-11-21T15:30:00.000Z',
        liftedBy: 'key_01',
        liftNote: 'partner fixed the placement',
      },
    },
  })
  @ApiResponse({ status: 404, description: 'no such block' })
  @ApiResponse({ status: 409, description: 'the block already ended (expired or lifted)' })
  lift(@Param('id') id: string, @Body(new LiftPipe()) body: Static<typeof LiftBody>, @CurrentPrincipal() who: Principal) {
    return this.enforcement.lift(id, who.keyId, body.note);
  }

  @Post('run')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Evaluate the enforcement policies now',
    description:
      'They run every ENFORCEMENT_INTERVAL_SECONDS anyway; this runs them at once (after changing a policy, say) and answers what it did.',
  })
  @ApiResponse({
    status: 200,
    schema: { example: { at: '2026-11-21T14:00:00.000Z', policies: 2, made: [BLOCK_EXAMPLE], forgotten: 0, version: 14 } },
  })
  run() {
    return this.enforcement.run();
  }
}
