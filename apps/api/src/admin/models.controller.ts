import { BadRequestException, Body, Controller, Get, Inject, NotFoundException, Put, UseGuards } from '@nestjs/common';
import type { NatsConnection } from '@nats-io/nats-core';
import { Static, Type } from '@sinclair/typebox';
import { ApiKeyGuard, CurrentPrincipal, Roles } from '@app/auth';
import { Topology } from '@app/contracts';
import { SchemaPipe } from '@app/http';
import { NATS_CONNECTION } from '@app/messaging';
import { ModelRegistry, UnknownModelError } from '@app/settings';
import { ModelRepository, Principal } from '@app/storage';

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

/** Published models and which one decides; `npx arbiter model publish` uploads new ones. */
@Controller('v1/admin/models')
@UseGuards(ApiKeyGuard)
@Roles('admin')
export class ModelsController {
  private readonly registry: ModelRegistry;

  constructor(
    @Inject(NATS_CONNECTION) nc: NatsConnection,
    topology: Topology,
    private readonly models: ModelRepository,
  ) {
    this.registry = new ModelRegistry(nc, topology, models);
  }

  @Get()
  async list() {
    const [selection, versions] = await Promise.all([this.registry.selection(), this.models.list()]);
    return {
      selection: selection ?? { active: 'default (from disk)', shadow: null },
      versions: versions.map(({ card, ...v }) => ({ ...v, trainedAt: card.trainedAt, validation: card.validation })),
    };
  }

  /** Swaps the active and / or shadow model on every running scorer, without restart. */
  @Put('selection')
  async select(@Body(new SchemaPipe(ModelSelectionInput)) body: ModelSelectionInput, @CurrentPrincipal() who: Principal) {
    if (body.active === undefined && body.shadow === undefined) {
      throw new BadRequestException({
        error: 'validation_failed',
        message: 'give active and / or shadow',
        errors: [{ field: '', message: 'give active and / or shadow' }],
      });
    }
    try {
      return await this.registry.select(body, who.keyId);
    } catch (e) {
      if (e instanceof UnknownModelError) throw new NotFoundException({ error: 'not_found', message: e.message });
      throw e;
    }
  }
}
