import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Topology } from '@app/contracts';
import { ModelRuntime } from '@app/model';
import { componentLogger } from '@app/observability';
import { ConfigKey, openConfigBucket } from './config-bucket';
import { DEFAULT_MODEL_SELECTION, ModelRegistry, ModelSelection } from './model-registry';

/**
 * The scorer side of models: follows the `model` key of the KV bucket, loads the selected active
 * and shadow models from the object store (compiled once, cached by version) and hands them over.
 * Until a selection exists the default model from disk decides. A model that fails to load is
 * logged and the scorer keeps the models it has.
 */
export class ModelWatcher {
  private readonly cache = new Map<string, ModelRuntime>();
  private stopWatching?: () => void;
  private readonly log = componentLogger('model-watcher');

  constructor(
    private readonly nc: NatsConnection,
    private readonly topology: Topology,
    private readonly registry: ModelRegistry,
    private readonly defaultModelPath: string,
    private readonly onChange: (active: ModelRuntime | null, shadow: ModelRuntime | null) => void,
  ) {}

  async start(): Promise<void> {
    const kv = await openConfigBucket(this.nc, this.topology);
    const entry = await kv.get(ConfigKey.Model);
    await this.apply(entry && entry.operation === 'PUT' ? entry.json<ModelSelection>() : null);
    const watch = await kv.watch({ key: ConfigKey.Model, include: 'updates' });
    this.stopWatching = () => watch.stop();
    void (async () => {
      for await (const e of watch) if (e.operation === 'PUT') await this.apply(e.json<ModelSelection>());
    })().catch((err) => this.log.error({ err }, 'model watch ended'));
  }

  stop(): void {
    this.stopWatching?.();
  }

  private async apply(selection: ModelSelection | null): Promise<void> {
    try {
      const active = selection ? await this.load(selection.active) : this.defaultModel();
      const shadow = selection ? await this.load(selection.shadow) : null;
      this.onChange(active, shadow);
      this.log.info(
        { active: active?.version ?? null, shadow: shadow?.version ?? null, source: selection ? 'kv' : 'default' },
        'models active',
      );
    } catch (e) {
      this.log.error({ err: e, selection }, 'could not load the selected models; keeping the current ones');
    }
  }

  private async load(version: string | null): Promise<ModelRuntime | null> {
    if (!version) return null;
    if (version === DEFAULT_MODEL_SELECTION) return this.defaultModel();
    let found = this.cache.get(version);
    if (!found) {
      found = new ModelRuntime(await this.registry.artifact(version));
      this.cache.set(version, found);
    }
    return found;
  }

  private defaultModel(): ModelRuntime | null {
    if (!this.defaultModelPath) return null;
    const path = resolve(this.defaultModelPath);
    if (!existsSync(path)) {
      this.log.warn({ path }, 'no default model file: scoring with rules only until a model is activated');
      return null;
    }
    return ModelRuntime.fromFile(path);
  }
}

/** The model deciding right now, as a scorer would load it: the KV selection, else the default file (null: rules only). */
export async function loadActiveModel(registry: ModelRegistry, defaultModelPath: string): Promise<ModelRuntime | null> {
  const selection = await registry.selection();
  if (selection) return selection.active ? new ModelRuntime(await registry.artifact(selection.active)) : null;
  if (!defaultModelPath) return null;
  const path = resolve(defaultModelPath);
  return existsSync(path) ? ModelRuntime.fromFile(path) : null;
}
