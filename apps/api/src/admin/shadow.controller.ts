import { Body, Controller, Delete, Get, HttpCode, Post, Put, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { Static, Type } from '@sinclair/typebox';
import { ApiKeyGuard, CurrentPrincipal, Roles } from '@app/auth';
import { ApiQueryFrom, QueryPipe, SchemaPipe, plain } from '@app/http';
import { Principal } from '@app/storage';
import { CandidateInput } from './backtest.controller';
import { ShadowService } from './shadow.service';

const ShadowInput = Type.Object(CandidateInput, { additionalProperties: false });
const ShadowQuery = Type.Object(
  { examples: Type.Integer({ minimum: 0, maximum: 500, default: 20, description: 'how many recent disagreements to list' }) },
  { additionalProperties: false },
);

const SHADOW_EXAMPLE = {
  label: 'shadow-9c1f02ab',
  basedOn: 12,
  diff: [{ path: 'offers.game-install.rules.IP_VELOCITY.perMinute', op: 'changed', from: 20, to: 5 }],
  setAt: '2026-11-20T09:12:00.000Z',
  setBy: '0193a5b2-0d1e-7c3a-9f00-6a1b2c3d4e5f',
};

/**
 * A candidate rule set on live traffic: every scorer judges each event with it beside the active
 * rules and records what it would have done; nothing it says reaches an advertiser or a publisher.
 */
@ApiTags('admin')
@ApiBearerAuth()
@Controller('v1/admin/rulesets/shadow')
@UseGuards(ApiKeyGuard)
@Roles('admin')
export class ShadowController {
  constructor(private readonly shadows: ShadowService) {}

  @Get()
  @ApiOperation({ summary: 'The shadow rule set, how often it disagrees with the active one, and the latest disagreements' })
  @ApiQueryFrom(ShadowQuery)
  @ApiResponse({
    status: 200,
    schema: {
      example: {
        shadow: SHADOW_EXAMPLE,
        summary: {
          events: 18234,
          disagreements: 212,
          disagreementRate: 0.0116,
          clicks: { events: 17710, disagreements: 180 },
          conversions: { events: 524, disagreements: 32 },
          transitions: { 'valid→invalid': 180, 'approved→rejected': 32 },
          payoutWithheld: 144,
          payoutReleased: 0,
          first: '2026-11-20T09:12:01.204Z',
          last: '2026-11-20T11:40:13.870Z',
        },
        examples: [
          {
            kind: 'conversion',
            eventId: '0193a5b2-0d1e-7c3a-9f00-6a1b2c3d4e5f',
            ts: '2026-11-20T11:40:13.000Z',
            publisherId: 'blog',
            offerId: 'game-install',
            activeStatus: 'approved',
            shadowStatus: 'rejected',
            activeCodes: [],
            shadowCodes: ['INVALID_SOURCE_CLICK'],
            payout: 4.5,
          },
        ],
      },
    },
  })
  show(@Query(new QueryPipe(ShadowQuery)) q: Static<typeof ShadowQuery>) {
    return this.shadows.show(q.examples);
  }

  @Put()
  @ApiOperation({
    summary: 'Run a candidate rule set in shadow on live traffic (replaces any shadow running)',
    description: 'Every scorer starts judging with it within a second; its outcomes are recorded, never acted on.',
  })
  @ApiBody({
    schema: plain(ShadowInput),
    examples: { layer: { value: { scope: 'offer:game-install', ruleset: { rules: { IP_VELOCITY: { perMinute: 5 } } } } } },
  })
  @ApiResponse({ status: 200, schema: { example: SHADOW_EXAMPLE } })
  @ApiResponse({ status: 400, description: 'the rule set is invalid; nothing changed' })
  start(@Body(new SchemaPipe(ShadowInput)) body: Static<typeof ShadowInput>, @CurrentPrincipal() who: Principal) {
    return this.shadows.start(body, who.keyId);
  }

  @Delete()
  @HttpCode(200)
  @ApiOperation({ summary: 'Stop the shadow rule set (its recorded outcomes stay)' })
  @ApiResponse({ status: 200, schema: { example: { shadow: null } } })
  stop(@CurrentPrincipal() who: Principal) {
    return this.shadows.stop(who.keyId);
  }

  @Post('promote')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Make the shadow rule set the active one (a new version, audited with its diff) and stop shadowing',
  })
  @ApiResponse({
    status: 200,
    schema: { example: { promoted: 'shadow-9c1f02ab', config: { version: 13, network: {}, advertisers: {}, offers: {} } } },
  })
  @ApiResponse({ status: 404, description: 'no shadow rule set is running' })
  @ApiResponse({ status: 409, description: 'the active rules changed since the shadow was started on them; nothing changed' })
  promote(@CurrentPrincipal() who: Principal) {
    return this.shadows.promote(who.keyId);
  }
}
