import { BadRequestException, Body, Controller, Get, Headers, NotFoundException, Put, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { Static, Type } from '@sinclair/typebox';
import { ApiKeyGuard, CurrentPrincipal, Roles } from '@app/auth';
import { ApiListResponse, SchemaPipe, csvFile, plain, prefersCsv } from '@app/http';
import { UnknownModelError } from '@app/live-config';
import { Principal } from '@app/storage';
import { csvView } from '../csv-views';
import { ModelsService } from './models.service';

const Version = Type.Union([Type.String({ minLength: 1, maxLength: 128 }), Type.Null()]);
export const ModelSelectionInput = Type.Object(
  {
    /** The model that decides (MODEL_RISK); null: rules only. */
    active: Type.Optional(Version),
    /** A candidate scored and recorded beside the active one, not deciding; null: none. */
    shadow: Type.Optional(Version),
  },
  { additionalProperties: false },
);
type ModelSelectionInput = Static<typeof ModelSelectionInput>;

const VERSION_EXAMPLE = {
  version: 'rf-2026-11-20',
  thresholds: { click: 0.5, conversion: 0.5 },
  sizeBytes: 529113,
  publishedAt: '2026-11-20T09:58:00.000Z',
  publishedBy: 'key_01',
  trainedAt: '2026-11-20T09:40:00.000Z',
  validation: {
    click: { rows: 29713, fraud: 8680, rocAuc: { rules: 0.8011, model: 0.9996 }, threshold: 0.5 },
    conversion: { rows: 1380, fraud: 404, rocAuc: { rules: 0.9671, model: 0.9999 }, threshold: 0.5 },
  },
};
const MODELS_EXAMPLE = {
  selection: { active: 'sim-default-1', shadow: 'rf-2026-11-20', updatedAt: '2026-11-20T10:00:00.000Z', updatedBy: 'key_01' },
  versions: [VERSION_EXAMPLE],
};
const MODEL_CSV = csvView(
  ['role', 'version', 'thresholds.click', 'thresholds.conversion', 'sizeBytes', 'publishedAt', 'publishedBy', 'trainedAt', 'validation'],
  { role: 'shadow', ...VERSION_EXAMPLE },
);

/** Published models and which one decides; `npx arbiter model publish` uploads new ones. */
@ApiTags('admin')
@ApiBearerAuth()
@Controller('v1/admin/models')
@UseGuards(ApiKeyGuard)
@Roles('admin')
export class ModelsController {
  constructor(private readonly models: ModelsService) {}

  @Get()
  @ApiOperation({ summary: 'Published models, their validation figures, and which one is active and which shadows it' })
  @ApiListResponse(MODELS_EXAMPLE, MODEL_CSV.example, 'one row per published version, with its role (`active`, `shadow` or empty)')
  async list(@Headers('accept') accept?: string) {
    const models = await this.models.list();
    if (!prefersCsv(accept)) return models;
    const role = (version: string) =>
      version === models.selection.active ? 'active' : version === models.selection.shadow ? 'shadow' : null;
    return csvFile(
      models.versions.map((v) => ({ role: role(v.version), ...v })),
      MODEL_CSV.columns,
      'models.csv',
    );
  }

  /** Swaps the active and / or shadow model on every running scorer, without restart. */
  @Put('selection')
  @ApiOperation({ summary: 'Choose the active and / or shadow model; every scorer swaps within a second, without restart' })
  @ApiBody({
    schema: plain(ModelSelectionInput),
    examples: { promote: { value: { active: 'rf-2026-11-20', shadow: null } }, shadow: { value: { shadow: 'rf-2026-11-20' } } },
  })
  @ApiResponse({
    status: 200,
    schema: { example: { active: 'rf-2026-11-20', shadow: null, updatedAt: '2026-11-20T10:00:00.000Z', updatedBy: 'key_01' } },
  })
  @ApiResponse({ status: 404, description: 'no published model has that version' })
  async select(@Body(new SchemaPipe(ModelSelectionInput)) body: ModelSelectionInput, @CurrentPrincipal() who: Principal) {
    if (body.active === undefined && body.shadow === undefined) {
      throw new BadRequestException({
        error: 'validation_failed',
        message: 'give active and / or shadow',
        errors: [{ field: '', message: 'give active and / or shadow' }],
      });
    }
    try {
      return await this.models.select(body, who.keyId);
    } catch (e) {
      if (e instanceof UnknownModelError) throw new NotFoundException({ error: 'not_found', message: e.message });
      throw e;
    }
  }
}
