import { Injectable } from '@nestjs/common';
import { DEFAULT_MODEL_SELECTION, ModelRegistry, ModelSelection } from '@app/live-config';
import { ModelRepository } from '@app/storage';

/** Published models and the choice of the one that decides (and the one shadowing it). */
@Injectable()
export class ModelsService {
  constructor(
    private readonly registry: ModelRegistry,
    private readonly models: ModelRepository,
  ) {}

  /** Every published version with its validation figures, and the current selection. */
  async list() {
    const [selection, versions] = await Promise.all([this.registry.selection(), this.models.list()]);
    return {
      selection: selection ?? { active: DEFAULT_MODEL_SELECTION, shadow: null },
      versions: versions.map(({ card, ...v }) => ({ ...v, trainedAt: card.trainedAt, validation: card.validation })),
    };
  }

  /** Swaps the active and / or shadow model on every running scorer; throws UnknownModelError for a version never published. */
  select(change: { active?: string | null; shadow?: string | null }, actor: string): Promise<ModelSelection> {
    return this.registry.select(change, actor);
  }
}
