import { Objm } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Topology } from '@app/contracts';
import { ModelArtifact, ModelRuntime } from '@app/model';
import { ModelRepository } from '@app/storage';
import { ConfigKey, openConfigBucket } from './config-bucket';

/** The selection's name for the model scorers load from disk (ARBITER_DEFAULT_MODEL). */
export const DEFAULT_MODEL_SELECTION = 'default';

/** Which model decides and which one runs beside it, as the KV bucket holds it (`default`: the model from disk). */
export interface ModelSelection {
  active: string | null;
  shadow: string | null;
  updatedAt?: string;
  updatedBy?: string | null;
}

export class UnknownModelError extends Error {
  constructor(readonly version: string) {
    super(`model "${version}" is not published`);
    this.name = 'UnknownModelError';
  }
}

/**
 * Model versions: artifacts in the NATS object store (models are megabytes, more than a KV value
 * takes), their cards in the database, the active / shadow selection in the KV bucket that every
 * scorer watches.
 */
export class ModelRegistry {
  constructor(
    private readonly nc: NatsConnection,
    private readonly topology: Topology,
    private readonly repository: ModelRepository,
  ) {}

  /** Validates (it must compile for this engine's features), stores and records a model. */
  async publish(artifact: ModelArtifact, actor: string | null): Promise<{ version: string; sizeBytes: number }> {
    new ModelRuntime(artifact);
    const bytes = new TextEncoder().encode(JSON.stringify(artifact));
    const store = await new Objm(this.nc).create(this.topology.modelsBucket);
    await store.putBlob({ name: artifact.version, description: `arbiter model ${artifact.version}` }, bytes);
    await this.repository.upsert({
      version: artifact.version,
      card: artifact.card as unknown as Record<string, unknown>,
      thresholds: artifact.thresholds,
      sizeBytes: bytes.length,
      publishedBy: actor,
    });
    return { version: artifact.version, sizeBytes: bytes.length };
  }

  async artifact(version: string): Promise<ModelArtifact> {
    const store = await new Objm(this.nc).create(this.topology.modelsBucket);
    const bytes = await store.getBlob(version);
    if (!bytes) throw new UnknownModelError(version);
    return JSON.parse(new TextDecoder().decode(bytes)) as ModelArtifact;
  }

  async selection(): Promise<ModelSelection | null> {
    const entry = await (await openConfigBucket(this.nc, this.topology)).get(ConfigKey.Model);
    return entry && entry.operation === 'PUT' ? entry.json<ModelSelection>() : null;
  }

  /**
   * Changes the active and / or shadow model (null: none; undefined: unchanged). Before any
   * selection the default model from disk is the active one, and stays so when only a shadow is
   * chosen; activating the model that runs in shadow ends its shadow run.
   */
  async select(change: { active?: string | null; shadow?: string | null }, actor: string | null): Promise<ModelSelection> {
    for (const version of [change.active, change.shadow]) {
      if (version && version !== DEFAULT_MODEL_SELECTION && !(await this.repository.exists(version))) throw new UnknownModelError(version);
    }
    const current = (await this.selection()) ?? { active: DEFAULT_MODEL_SELECTION, shadow: null };
    const active = change.active === undefined ? current.active : change.active;
    const shadow = change.shadow === undefined ? current.shadow : change.shadow;
    const next: ModelSelection = {
      active,
      shadow: shadow !== null && shadow === active ? null : shadow,
      updatedAt: new Date().toISOString(),
      updatedBy: actor,
    };
    await (await openConfigBucket(this.nc, this.topology)).put(ConfigKey.Model, JSON.stringify(next));
    return next;
  }
}
