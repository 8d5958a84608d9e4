import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Topology } from '@app/contracts';
import { ModelRuntime } from '@app/model';
import { componentLogger, degradations, metrics } from '@app/observability';
import { ConfigKey, followKey, openConfigBucket } from './config-bucket';
import { DEFAULT_MODEL_SELECTION, ModelRegistry, ModelSelection, UnknownModelError } from './model-registry';

type Side = 'active' | 'shadow';

/** The first retry of a selected model that failed to load, doubling up to the last. */
export const MODEL_RETRY_FIRST_MS = 1_000;
export const MODEL_RETRY_MAX_MS = 60_000;

/** What `GET /health` lists while the selected active model is not loaded. */
const DEGRADED_COMPONENT = 'model active';

/**
 * The scorer side of models: follows the `model` key of the KV bucket, loads the selected active
 * and shadow models from the object store (compiled once, cached by version) and hands them over.
 * Until a selection exists the default model from disk decides. The active and the shadow model
 * load each on its own: one that fails to load is logged (naming its side and version) and that side
 * keeps the model it has, while the other side still takes its new model. At start there is nothing
 * to keep: a selected active model that fails to load leaves the scorer with rules only (it does not
 * fall back to the default file, which the operator's selection replaced). A side that failed is
 * retried (1 s doubling to 60 s) until it loads or the selection changes; meanwhile
 * `arbiter_model_version{side}` shows what runs, `arbiter_model_load_failures_total{side}` counts the
 * failures, `arbiter_model_load_failing{side,loader="scorer"}` is 1 (what the "not loaded" alerts watch) and, while the selected active model is not loaded, `GET /health` says `degraded`.
 */
export class ModelWatcher {
  private readonly cache = new Map<string, ModelRuntime>();
  /** What was last handed over (nothing before the first selection is applied). */
  private current: { active: ModelRuntime | null; shadow: ModelRuntime | null } = { active: null, shadow: null };
  /** Bumped by each selection (and by stop): a load started for an older one hands nothing over. */
  private generation = 0;
  /** The selected versions that failed to load, by side, and the next retry. */
  private readonly failed = new Map<Side, string>();
  private retry?: { timer: NodeJS.Timeout; delayMs: number };
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
    this.stopWatching = await followKey(
      kv,
      ConfigKey.Model,
      (entry) => this.apply(entry ? entry.json<ModelSelection>() : null),
      (err) => this.log.error({ err }, 'model watch ended'),
    );
  }

  stop(): void {
    this.stopWatching?.();
    this.generation++;
    this.cancelRetry();
  }

  /** Loads a selection (null: none yet, the default file) and hands the models over; the KV watch calls it on each change. */
  async apply(selection: ModelSelection | null): Promise<void> {
    const generation = ++this.generation;
    this.cancelRetry();
    this.failed.clear();
    const source = selection ? 'kv' : 'default';
    const wanted: Record<Side, string | null> = {
      active: selection ? selection.active : DEFAULT_MODEL_SELECTION,
      shadow: selection ? selection.shadow : null,
    };
    const loaded = {
      active: await this.loadSide('active', wanted.active, generation),
      shadow: await this.loadSide('shadow', wanted.shadow, generation),
    };
    if (generation !== this.generation) return; // a newer selection came meanwhile: it decides
    const active = loaded.active.ok ? loaded.active.model : this.current.active;
    const shadow = loaded.shadow.ok ? loaded.shadow.model : this.current.shadow;
    for (const side of ['active', 'shadow'] as const) if (!loaded[side].ok) this.failed.set(side, wanted[side]!);
    this.handOver(active, shadow);
    this.reportFailing();
    const fields = { active: active?.version ?? null, shadow: shadow?.version ?? null, source };
    if (this.failed.size) this.log.warn({ ...fields, kept: [...this.failed.keys()] }, 'models active; a side kept its model');
    else this.log.info(fields, 'models active');
    this.scheduleRetry(generation, MODEL_RETRY_FIRST_MS);
  }

  /** Hands a pair over (a kept shadow that is now the active model would only repeat it) and reports it. */
  private handOver(active: ModelRuntime | null, shadow: ModelRuntime | null): void {
    if (shadow && shadow.version === active?.version) shadow = null;
    this.current = { active, shadow };
    this.onChange(active, shadow);
    const gauge = metrics.modelVersion;
    gauge.reset();
    gauge.labels('active', active?.version ?? 'none').set(1);
    gauge.labels('shadow', shadow?.version ?? 'none').set(1);
    if (!this.failed.has('active')) degradations.clear(DEGRADED_COMPONENT);
  }

  /** `arbiter_model_load_failing{side,loader="scorer"}`: 1 for each side whose selected model is not loaded. */
  private reportFailing(): void {
    for (const side of ['active', 'shadow'] as const) metrics.modelLoadFailing.labels(side, 'scorer').set(this.failed.has(side) ? 1 : 0);
  }

  private scheduleRetry(generation: number, delayMs: number): void {
    if (!this.failed.size) return;
    const timer = setTimeout(() => void this.retryFailed(generation, delayMs), delayMs);
    timer.unref();
    this.retry = { timer, delayMs };
  }

  private cancelRetry(): void {
    if (this.retry) clearTimeout(this.retry.timer);
    this.retry = undefined;
  }

  /** Loads the sides that failed again; hands over what now loads unless the selection changed meanwhile. */
  private async retryFailed(generation: number, delayMs: number): Promise<void> {
    this.retry = undefined;
    const loaded = new Map<Side, ModelRuntime | null>();
    for (const [side, version] of this.failed) {
      const result = await this.loadSide(side, version, generation);
      if (result.ok) loaded.set(side, result.model);
    }
    if (generation !== this.generation) return;
    if (loaded.size) {
      for (const side of loaded.keys()) this.failed.delete(side);
      this.reportFailing();
      const active = loaded.has('active') ? loaded.get('active')! : this.current.active;
      const shadow = loaded.has('shadow') ? loaded.get('shadow')! : this.current.shadow;
      this.handOver(active, shadow);
      this.log.info({ active: active?.version ?? null, shadow: shadow?.version ?? null, retried: [...loaded.keys()] }, 'models active');
    }
    this.scheduleRetry(generation, Math.min(delayMs * 2, MODEL_RETRY_MAX_MS));
  }

  /** A side's selected model (null: none), or why it failed to load (logged and counted). */
  private async loadSide(
    side: Side,
    version: string | null,
    generation: number,
  ): Promise<{ ok: true; model: ModelRuntime | null } | { ok: false }> {
    try {
      return { ok: true, model: await this.load(version) };
    } catch (err) {
      metrics.modelLoadFailures.labels(side).inc();
      const kept = this.current[side]?.version ?? null;
      this.log.error(
        { err, side, version, kept },
        `could not load the selected ${side} model; keeping the current ${side} model and retrying`,
      );
      // A load for a selection replaced meanwhile does not speak for the current one.
      if (side === 'active' && generation === this.generation) {
        degradations.report(
          DEGRADED_COMPONENT,
          err instanceof UnknownModelError ? 'configuration' : 'unknown',
          `model ${version} not loaded (running ${kept ?? 'rules only'})`,
          (err as Error).message ?? String(err),
        );
      }
      return { ok: false };
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

/** What `GET /health` of the API lists while the model deciding now cannot be loaded for its backtests. */
export const API_MODEL_COMPONENT = 'model active (api)';

/** The model deciding now could not be loaded: what needs it (a backtest) cannot run. */
export class ModelUnavailableError extends Error {
  constructor(
    readonly version: string,
    cause: unknown,
  ) {
    super(`the active model ${version} could not be loaded: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'ModelUnavailableError';
  }
}

/**
 * The model deciding right now, as a scorer would load it: the KV selection (`default`: the default
 * file), else the default file (null: rules only, also when the file is missing). A selected model
 * that fails to load is counted in `arbiter_model_load_failures_total{side="active"}`, makes this
 * process's `GET /health` degraded (API_MODEL_COMPONENT) and `arbiter_model_load_failing{side="active",
 * loader="api"}` 1 (the "API cannot load the active model" alert warns) until a later load succeeds, and is thrown
 * as `ModelUnavailableError`; a failure to read the selection itself (the broker) is thrown as it is.
 * The API loads through `ApiModelLoader`, which retries a failed load in the background.
 */
export async function loadActiveModel(registry: ModelRegistry, defaultModelPath: string): Promise<ModelRuntime | null> {
  const log = componentLogger('model');
  const selection = await registry.selection();
  const version = selection ? selection.active : DEFAULT_MODEL_SELECTION;
  let model: ModelRuntime | null = null;
  try {
    if (!version) model = null;
    else if (version !== DEFAULT_MODEL_SELECTION) model = new ModelRuntime(await registry.artifact(version));
    else {
      const path = defaultModelPath ? resolve(defaultModelPath) : '';
      model = path && existsSync(path) ? ModelRuntime.fromFile(path) : null;
    }
  } catch (err) {
    metrics.modelLoadFailures.labels('active').inc();
    metrics.modelLoadFailing.labels('active', 'api').set(1);
    log.error({ err, version }, 'could not load the active model');
    degradations.report(
      API_MODEL_COMPONENT,
      err instanceof UnknownModelError ? 'configuration' : 'unknown',
      `model ${version} not loaded (backtests refused)`,
      (err as Error).message ?? String(err),
    );
    throw new ModelUnavailableError(version ?? 'none', err);
  }
  metrics.modelLoadFailing.labels('active', 'api').set(0);
  if (degradations.clear(API_MODEL_COMPONENT)) log.info({ version }, 'the active model loads again');
  return model;
}

/**
 * The API's `loadActiveModel`, retried in the background after a failed load (MODEL_RETRY_FIRST_MS
 * doubling to MODEL_RETRY_MAX_MS) until one succeeds. The API loads the model only for a backtest and
 * does not follow the selection: without the retry, one failed load (an object-store blip) held
 * `arbiter_model_load_failing{loader="api"}` and the degraded `/health` until the next backtest,
 * whatever the operator fixed. Each retry reads the selection again, so publishing the model again
 * or selecting another one clears both within a minute.
 */
export class ApiModelLoader {
  private retry?: { timer: NodeJS.Timeout; delayMs: number };
  private stopped = false;
  private readonly log = componentLogger('model');

  constructor(
    private readonly registry: ModelRegistry,
    private readonly defaultModelPath: string,
  ) {}

  async load(): Promise<ModelRuntime | null> {
    try {
      const model = await loadActiveModel(this.registry, this.defaultModelPath);
      this.cancelRetry();
      return model;
    } catch (err) {
      if (err instanceof ModelUnavailableError) this.scheduleRetry(MODEL_RETRY_FIRST_MS);
      throw err;
    }
  }

  /** Whether a retry is pending (for tests). */
  get retrying(): boolean {
    return this.retry !== undefined;
  }

  stop(): void {
    this.stopped = true;
    this.cancelRetry();
  }

  /** Nest's shutdown hook (the API provides the loader). */
  onApplicationShutdown(): void {
    this.stop();
  }

  private scheduleRetry(delayMs: number): void {
    if (this.stopped || this.retry) return;
    const timer = setTimeout(() => {
      this.retry = undefined;
      loadActiveModel(this.registry, this.defaultModelPath).then(
        () => this.log.info('the active model loads again (retry)'),
        (err) => {
          // A broker that cannot answer is retried too: the failing state stays until a load tells.
          if (!(err instanceof ModelUnavailableError)) this.log.warn({ err }, 'could not read the model selection; retrying');
          this.scheduleRetry(Math.min(delayMs * 2, MODEL_RETRY_MAX_MS));
        },
      );
    }, delayMs);
    timer.unref();
    this.retry = { timer, delayMs };
  }

  private cancelRetry(): void {
    if (this.retry) clearTimeout(this.retry.timer);
    this.retry = undefined;
  }
}
