import { Body, Controller, Delete, Get, Headers, HttpCode, NotFoundException, Param, Post, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { Type, Static } from '@sinclair/typebox';
import { ApiKeyGuard, Roles } from '@app/auth';
import { CatalogKey, StringEnum } from '@app/contracts';
import { ApiListResponse, SchemaPipe, csvFile, plain, prefersCsv } from '@app/http';
import { csvView } from '../csv-views';
import { ApiKeysService } from './api-keys.service';

export const ApiKeyInput = Type.Object(
  {
    role: StringEnum(['admin', 'advertiser', 'publisher'] as const),
    /** The publisher or advertiser the key speaks for; absent for admin keys. */
    subjectId: Type.Optional(CatalogKey),
    label: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);
type ApiKeyInput = Static<typeof ApiKeyInput>;

export const PostbackTokenInput = Type.Object({ advertiserId: CatalogKey }, { additionalProperties: false });

const KEY_EXAMPLE = {
  id: '0193e0f2-…',
  role: 'publisher',
  subjectId: 'blog',
  scope: 'api',
  label: 'reporting',
  createdAt: '2026-11-20T10:00:00.000Z',
  revokedAt: null,
};
const KEY_CSV = csvView(Object.keys(KEY_EXAMPLE), KEY_EXAMPLE);

/** API keys: created here and shown once; only their hash is stored. */
@ApiTags('admin')
@ApiBearerAuth()
@Controller('v1/admin/api-keys')
@UseGuards(ApiKeyGuard)
@Roles('admin')
export class ApiKeysController {
  constructor(private readonly keys: ApiKeysService) {}

  @Get()
  @ApiOperation({ summary: 'All API keys (never the keys themselves)' })
  @ApiListResponse([KEY_EXAMPLE], KEY_CSV.example, 'every key')
  async list(@Headers('accept') accept?: string) {
    const keys = await this.keys.list();
    return prefersCsv(accept) ? csvFile(keys, KEY_CSV.columns, 'api-keys.csv') : keys;
  }

  @Post()
  @ApiOperation({
    summary: 'Create an API key for an admin, an advertiser or a publisher',
    description: 'The key is in the answer, and only there: only its SHA-256 is stored.',
  })
  @ApiBody({
    schema: plain(ApiKeyInput),
    examples: { publisher: { value: { role: 'publisher', subjectId: 'blog', label: 'reporting' } } },
  })
  @ApiResponse({
    status: 201,
    schema: {
      example: {
        id: '0193e0f2-…',
        key: 'arb_pub_N0t4R3alK3y…',
        role: 'publisher',
        subjectId: 'blog',
        note: 'store the key now: it is not shown again',
      },
    },
  })
  create(@Body(new SchemaPipe(ApiKeyInput)) body: ApiKeyInput) {
    return this.keys.create(body.role, body.subjectId, body.label);
  }

  @Post('postback-tokens')
  @ApiOperation({
    summary: "Create (rotate) an advertiser's postback token",
    description:
      'A credential that only sends conversions (`token=` on `GET /postback`, `X-Postback-Token` on `POST /v1/conversions`); it revokes the' +
      " advertiser's previous token. Shown once; only its hash is stored.",
  })
  @ApiBody({ schema: plain(PostbackTokenInput), examples: { one: { value: { advertiserId: 'shop' } } } })
  @ApiResponse({
    status: 201,
    schema: {
      example: {
        id: '0193e0f2-…',
        token: 'arb_pbt_N0t4R3alT0k3n…',
        advertiserId: 'shop',
        revokedPrevious: 0,
        note: 'store the token now: it is not shown again',
      },
    },
  })
  async postbackToken(@Body(new SchemaPipe(PostbackTokenInput)) body: Static<typeof PostbackTokenInput>) {
    return { ...(await this.keys.rotatePostbackToken(body.advertiserId)), advertiserId: body.advertiserId };
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Revoke an API key (effective within 10 s everywhere)' })
  @ApiResponse({ status: 204, description: 'Revoked' })
  @ApiResponse({ status: 404, description: 'No active key with that id' })
  async revoke(@Param('id') id: string): Promise<void> {
    if (!(await this.keys.revoke(id))) throw new NotFoundException({ error: 'not_found', message: `no active API key "${id}"` });
  }
}
