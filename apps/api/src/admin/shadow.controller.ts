import { Body, ConflictException, Controller, Delete, Get, HttpCode, NotFoundException, Post, Put, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { Static, Type } from '@sinclair/typebox';
import { ApiKeyGuard, CurrentPrincipal, Roles } from '@app/auth';
import { ApiQueryFrom, QueryPipe, SchemaPipe, plain } from '@app/http';
import { NoShadowError, RuleSetStore, StaleShadowError } from '@app/live-config';
import { Principal, ShadowOutcomeRepository } from '@app/storage';
import { CandidateInput, candidateOf, trialError } from './backtest.controller';

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
  constructor(
    private readonly store: RuleSetStore,
    private readonly outcomes: ShadowOutcomeRepository,
  ) {}

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
  async show(@Query(new QueryPipe(ShadowQuery)) q: Static<typeof ShadowQuery>) {
    const shadow = await this.store.shadow();
    if (!shadow) return { shadow: null, summary: null, examples: [] };
    const { config: _config, ...about } = shadow;
    const [summary, examples] = await Promise.all([this.outcomes.summary(shadow.label), this.outcomes.examples(shadow.label, q.examples)]);
    return { shadow: about, summary, examples };
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
  async start(@Body(new SchemaPipe(ShadowInput)) body: Static<typeof ShadowInput>, @CurrentPrincipal() who: Principal) {
    try {
      const { config: _config, ...about } = await this.store.setShadow(candidateOf(body), who.keyId);
      return about;
    } catch (e) {
      throw trialError(e);
    }
  }

  @Delete()
  @HttpCode(200)
  @ApiOperation({ summary: 'Stop the shadow rule set (its recorded outcomes stay)' })
  @ApiResponse({ status: 200, schema: { example: { shadow: null } } })
  async stop(@CurrentPrincipal() who: Principal) {
    await this.store.clearShadow(who.keyId);
    return { shadow: null };
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
  async promote(@CurrentPrincipal() who: Principal) {
    try {
      return await this.store.promoteShadow(who.keyId);
    } catch (e) {
      if (e instanceof NoShadowError) throw new NotFoundException({ error: 'not_found', message: e.message });
      if (e instanceof StaleShadowError) throw new ConflictException({ error: 'conflict', message: e.message });
      throw trialError(e);
    }
  }
}
