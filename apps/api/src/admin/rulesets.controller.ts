import { BadRequestException, Body, Controller, Delete, Get, Headers, Param, Put, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import { Static, Type } from '@sinclair/typebox';
import { ApiKeyGuard, CurrentPrincipal, Roles } from '@app/auth';
import { CatalogKey, StringEnum, compiled } from '@app/contracts';
import { ApiListResponse, ApiQueryFrom, QueryPipe, csvFile, plain, prefersCsv } from '@app/http';
import { RuleSetConfig, RuleSetLayer } from '@app/rules';
import { Principal } from '@app/storage';
import { csvView } from '../csv-views';
import { RuleSetsService } from './rulesets.service';

/**
 * Rule sets, layered network → advertiser → offer. Every change is validated, versioned and
 * live on every running scorer within a second, without a restart.
 */
const HistoryQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
    before: Type.Optional(Type.Integer({ minimum: 1, description: 'versions older than this one (the next page)' })),
  },
  { additionalProperties: false },
);
const QualityQuery = Type.Object(
  {
    from: Type.Optional(Type.String({ format: 'date-time', description: 'start (inclusive), ISO-8601; default: 7 days ago' })),
    to: Type.Optional(Type.String({ format: 'date-time', description: 'end (exclusive), ISO-8601; default: now' })),
    interval: Type.Optional(StringEnum(['hour', 'day'] as const, 'bucket size of `buckets`; default day')),
  },
  { additionalProperties: false },
);
const QUALITY_EXAMPLE = {
  kind: 'conversion',
  code: 'CTIT_TOO_SHORT',
  fired: 120,
  truePositives: 111,
  falsePositives: 9,
  falseNegatives: 240,
  precision: 0.925,
  recall: 0.3162,
};
const HISTORY_EXAMPLE = {
  version: 13,
  scope: 'advertiser:studio',
  changedBy: { keyId: '0193a5b2-0d1e-7c3a-9f00-6a1b2c3d4e5f', label: 'risk-team' },
  createdAt: '2026-11-20T09:12:00.000Z',
  diff: [
    { path: 'advertisers.studio.rules.CTIT_TOO_SHORT.minSeconds.install', op: 'changed', from: 10, to: 15 },
    { path: 'advertisers.studio.lists.denyIps', op: 'list', added: ['198.51.100.0/24'], removed: [] },
  ],
};
const HISTORY_CSV = csvView(['version', 'scope', 'changedBy.keyId', 'changedBy.label', 'createdAt', 'diff'], HISTORY_EXAMPLE);
const QUALITY_CSV = csvView(Object.keys(QUALITY_EXAMPLE), QUALITY_EXAMPLE);
const EffectiveQuery = Type.Object(
  {
    advertiserId: Type.Optional(Type.String({ ...CatalogKey, description: 'the advertiser layer to apply' })),
    offerId: Type.Optional(Type.String({ ...CatalogKey, description: 'the offer layer to apply' })),
  },
  { additionalProperties: false },
);

const LAYER_EXAMPLE = {
  description: 'stricter click-to-install time for game installs',
  policy: { holdHours: 48 },
  rules: { CTIT_TOO_SHORT: { mode: 'enforce', minSeconds: { install: 15 } }, GEO_MISMATCH: { mode: 'monitor' } },
  lists: { denyIps: ['198.51.100.0/24'] },
  enforcement: [
    {
      id: 'invalid-subids',
      entity: 'subId',
      metric: 'invalidRate',
      minSample: 100,
      windowHours: 6,
      maxRate: 0.3,
      blockOn: 'offer',
      blockHours: 24,
    },
  ],
};
const CONFIG_EXAMPLE = {
  version: 13,
  network: { policy: { holdThreshold: 0.35, rejectThreshold: 0.7 } },
  advertisers: { studio: LAYER_EXAMPLE },
  offers: {},
  updatedAt: '2026-11-20T09:12:00.000Z',
  updatedBy: 'key_01',
};
const LayerBody = () =>
  ApiBody({ schema: plain(RuleSetLayer), examples: { layer: { value: LAYER_EXAMPLE } }, description: 'one layer; every field optional' });
const ChangedResponse = () =>
  ApiResponse({
    status: 200,
    description: 'the new configuration, live on every scorer within a second',
    schema: { example: CONFIG_EXAMPLE },
  });
const InvalidResponse = () =>
  ApiResponse({
    status: 400,
    description: 'the layer is invalid; nothing changed',
    schema: {
      example: {
        error: 'validation_failed',
        message: 'rules.CTIT_TOO_SHORT.minSeconds.install must be >= 0',
        errors: [{ field: 'rules.CTIT_TOO_SHORT.minSeconds.install', message: 'must be >= 0' }],
      },
    },
  });

@ApiTags('admin')
@ApiBearerAuth()
@Controller('v1/admin/rulesets')
@UseGuards(ApiKeyGuard)
@Roles('admin')
export class RuleSetsController {
  constructor(private readonly rulesets: RuleSetsService) {}

  @Get()
  @ApiOperation({ summary: 'The rule-set configuration in force: every layer, network → advertiser → offer' })
  @ApiResponse({ status: 200, schema: { example: CONFIG_EXAMPLE } })
  current(): Promise<RuleSetConfig> {
    return this.rulesets.current();
  }

  @Get('history')
  @ApiOperation({
    summary: 'Earlier versions of the configuration, newest first: what changed (a structured diff), which layer, who (key label), when',
  })
  @ApiQueryFrom(HistoryQuery)
  @ApiListResponse(
    [HISTORY_EXAMPLE],
    HISTORY_CSV.example,
    'every version older than `before` (all of them without it; `limit` does not apply), the diff as JSON',
  )
  history(@Query(new QueryPipe(HistoryQuery)) q: Static<typeof HistoryQuery>, @Headers('accept') accept?: string) {
    if (!prefersCsv(accept)) return this.rulesets.history(q.limit, q.before);
    return csvFile(this.rulesets.allHistory(q.before), HISTORY_CSV.columns, 'ruleset-history.csv');
  }

  @Get('history/:version')
  @ApiOperation({ summary: 'One version: its whole configuration, its diff from the version before, who made it' })
  @ApiParam({ name: 'version', example: 13 })
  @ApiResponse({ status: 200, schema: { example: { ...HISTORY_EXAMPLE, config: CONFIG_EXAMPLE } } })
  @ApiResponse({ status: 404 })
  version(@Param('version') version: string) {
    return this.rulesets.version(version);
  }

  @Get('quality')
  @ApiOperation({
    summary: 'Precision and recall of each reason code, from labelled outcomes (advertiser feedback, analyst decisions, admin labels)',
    description:
      'A code counts where it fired (enforced or monitor-only) on a labelled click or conversion: precision is the share of those that were fraud, ' +
      'recall the share of the labelled fraud it fired on. Over the range (`rules`) and per hour or day (`buckets`).',
  })
  @ApiQueryFrom(QualityQuery)
  @ApiListResponse(
    {
      from: '2026-11-13T00:00:00.000Z',
      to: '2026-11-20T00:00:00.000Z',
      labelled: { click: { labelled: 0, fraud: 0 }, conversion: { labelled: 1204, fraud: 351 } },
      rules: [QUALITY_EXAMPLE],
      buckets: [{ bucket: '2026-11-19T00:00:00.000Z', rules: [{ ...QUALITY_EXAMPLE, fired: 17, truePositives: 16, falsePositives: 1 }] }],
    },
    QUALITY_CSV.example,
    'one row per reason code over the whole range (the `rules`, not the `buckets`)',
  )
  async ruleQuality(@Query(new QueryPipe(QualityQuery)) q: Static<typeof QualityQuery>, @Headers('accept') accept?: string) {
    const quality = await this.rulesets.ruleQuality(q);
    return prefersCsv(accept) ? csvFile(quality.rules, QUALITY_CSV.columns, 'rule-quality.csv') : quality;
  }

  /** The rules, thresholds and list sizes that apply to one advertiser / offer. */
  @Get('effective')
  @ApiOperation({ summary: 'The rules, thresholds and list sizes that apply to one advertiser and / or offer, layers merged' })
  @ApiQueryFrom(EffectiveQuery)
  @ApiResponse({
    status: 200,
    schema: {
      example: {
        version: 'v13',
        policy: {
          holdThreshold: 0.35,
          rejectThreshold: 0.7,
          clickInvalidThreshold: 0.5,
          weights: { low: 0.15, medium: 0.4, high: 0.75 },
          holdHours: 48,
        },
        rules: {
          CTIT_TOO_SHORT: { mode: 'enforce', severity: 'high', params: { minSeconds: { default: 15, sale: 15, install: 15, lead: 10 } } },
        },
        lists: { denyIps: 1, allowIps: 0, datacenterRanges: 0, denyDevices: 0, denyPublishers: 0, denySubIds: 0, enforcementBlocks: 0 },
      },
    },
  })
  effective(@Query(new QueryPipe(EffectiveQuery)) q: Static<typeof EffectiveQuery>) {
    return this.rulesets.effective(q.advertiserId, q.offerId);
  }

  @Put('network')
  @ApiOperation({ summary: 'Replace the network layer (the defaults every advertiser and offer inherit)' })
  @LayerBody()
  @ChangedResponse()
  @InvalidResponse()
  network(@Body() layer: unknown, @CurrentPrincipal() who: Principal) {
    return this.rulesets.change({ kind: 'network' }, layer, who.keyId);
  }

  @Put('advertisers/:id')
  @ApiOperation({ summary: 'Replace one advertiser’s layer' })
  @ApiParam({ name: 'id', description: 'advertiser id', example: 'studio' })
  @LayerBody()
  @ChangedResponse()
  @InvalidResponse()
  advertiser(@Param('id') id: string, @Body() layer: unknown, @CurrentPrincipal() who: Principal) {
    return this.rulesets.change({ kind: 'advertiser', id: key(id) }, layer, who.keyId);
  }

  @Put('offers/:id')
  @ApiOperation({ summary: 'Replace one offer’s layer' })
  @ApiParam({ name: 'id', description: 'offer id', example: 'game-install' })
  @LayerBody()
  @ChangedResponse()
  @InvalidResponse()
  offer(@Param('id') id: string, @Body() layer: unknown, @CurrentPrincipal() who: Principal) {
    return this.rulesets.change({ kind: 'offer', id: key(id) }, layer, who.keyId);
  }

  @Delete('advertisers/:id')
  @ApiOperation({ summary: 'Remove one advertiser’s layer: it inherits the network’s again' })
  @ApiParam({ name: 'id', description: 'advertiser id', example: 'studio' })
  @ChangedResponse()
  removeAdvertiser(@Param('id') id: string, @CurrentPrincipal() who: Principal) {
    return this.rulesets.change({ kind: 'advertiser', id: key(id) }, null, who.keyId);
  }

  @Delete('offers/:id')
  @ApiOperation({ summary: 'Remove one offer’s layer: it inherits its advertiser’s again' })
  @ApiParam({ name: 'id', description: 'offer id', example: 'game-install' })
  @ChangedResponse()
  removeOffer(@Param('id') id: string, @CurrentPrincipal() who: Principal) {
    return this.rulesets.change({ kind: 'offer', id: key(id) }, null, who.keyId);
  }
}

function key(id: string): string {
  if (!compiled(CatalogKey).check(id).ok) {
    throw new BadRequestException({
      error: 'validation_failed',
      message: 'id must be 1–64 letters, digits, _ or -',
      errors: [{ field: 'id', message: 'is not a catalog id' }],
    });
  }
  return id;
}
