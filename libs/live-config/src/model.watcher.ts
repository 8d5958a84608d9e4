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
 * Until a selection exists the default model from disk decides. The active and the shadow model
 * load each on its own: one that fails to load is logged (naming its side and version) and that side
 * keeps the model it has, while the other side still takes its new model. At start there is nothing
 * to keep: a selected active model that fails to load leaves the scorer with rules only (it does not
 * fall back to the default file, which the operator's selection replaced).
 */
export class ModelWatcher {
  private readonly cache = new Map<string, ModelRuntime>();
  /** What was last handed over (nothing before the first selection is applied). */
  private current: { active: ModelRuntime | null; shadow: ModelRuntime | null } = { active: null, shadow: null };
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

  /** Loads a selection (null: none yet, the default file) and hands the models over; the KV watch calls it on each change. */
  async apply(selection: ModelSelection | null): Promise<void> {
    const source = selection ? 'kv' : 'default';
    const active = await this.loadSide('active', selection ? selection.active : DEFAULT_MODEL_SELECTION, this.current.active);
    let shadow = await this.loadSide('shadow', selection ? selection.shadow : null, this.current.shadow);
    // A kept shadow that is now the active model (activating ends its shadow run) would only repeat it.
    if (shadow && shadow.version === active?.version) shadow = null;
    this.current = { active, shadow };
    this.onChange(active, shadow);
    this.log.info({ active: active?.version ?? null, shadow: shadow?.version ?? null, source }, 'models active');
  }

  /** The model a side is to run (null: none); the side's current model if the selected one fails to load. */
  private async loadSide(side: 'active' | 'shadow', version: string | null, current: ModelRuntime | null): Promise<ModelRuntime | null> {
    try {
      return await this.load(version);
    } catch (err) {
      this.log.error(
        { err, side, version, kept: current?.version ?? null },
        `could not load the selected ${side} model; keeping the current ${side} model`,
      );
      return current;
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
