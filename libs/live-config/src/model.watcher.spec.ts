import { readFileSync } from 'node:fs';
import type { NatsConnection } from '@nats-io/nats-core';
import { Topology } from '@app/contracts';
import { ModelArtifact } from '@app/model';
import { degradations, metrics } from '@app/observability';
import { ModelRegistry, UnknownModelError } from './model-registry';
import {
  API_MODEL_COMPONENT,
  MODEL_RETRY_FIRST_MS,
  MODEL_RETRY_MAX_MS,
  ApiModelLoader,
  ModelUnavailableError,
  ModelWatcher,
  loadActiveModel,
} from './model.watcher';

const artifact = JSON.parse(readFileSync('models/default/model.json', 'utf8')) as ModelArtifact;
const published: Record<string, ModelArtifact> = {
  good: { ...artifact, version: 'good' },
  other: { ...artifact, version: 'other' },
  // Stored, but this engine cannot load it.
  bad: { ...artifact, version: 'bad', format: 'arbiter-model/0' as ModelArtifact['format'] },
};

/**
 * A store holding the artifacts above; `apply` is what the KV watch calls on each selection.
 * `unreadable` versions fail to read (the object store down, a timeout) until taken out of it.
 */
function watcher(unreadable = new Set<string>()): { sut: ModelWatcher; handed: [string | null, string | null][]; reads: string[] } {
  const reads: string[] = [];
  const registry = {
    artifact: async (version: string) => {
      reads.push(version);
      if (unreadable.has(version)) throw new Error('TIMEOUT');
      if (!published[version]) throw new UnknownModelError(version);
      return published[version];
    },
  } as unknown as ModelRegistry;
  const handed: [string | null, string | null][] = [];
  const sut = new ModelWatcher({} as NatsConnection, new Topology('unit'), registry, 'models/default/model.json', (a, s) =>
    handed.push([a?.version ?? null, s?.version ?? null]),
  );
  started.push(sut);
  return { sut, handed, reads };
}

/** Every watcher made here, stopped after each test (a failed load leaves a retry timer). */
const started: ModelWatcher[] = [];
afterEach(() => {
  for (const w of started.splice(0)) w.stop();
});

describe('ModelWatcher: a selected model that fails to load', () => {
  it('keeps the current shadow and still applies a good new active model', async () => {
    const { sut, handed } = watcher();
    await sut.apply({ active: 'good', shadow: 'other' });
    await sut.apply({ active: 'other', shadow: 'bad' });
    expect(handed).toEqual([
      ['good', 'other'],
      // "other" was the shadow and is now active: the kept shadow would only repeat it.
      ['other', null],
    ]);
  });

  it('keeps the current active model and still applies a good new shadow', async () => {
    const { sut, handed } = watcher();
    await sut.apply({ active: 'good', shadow: null });
    await sut.apply({ active: 'bad', shadow: 'other' });
    await sut.apply({ active: 'missing', shadow: null });
    expect(handed).toEqual([
      ['good', null],
      ['good', 'other'],
      ['good', null],
    ]);
  });

  it('keeps the current shadow beside a good active one that was already running', async () => {
    const { sut, handed } = watcher();
    await sut.apply({ active: 'good', shadow: 'other' });
    await sut.apply({ active: 'good', shadow: 'bad' });
    expect(handed).toEqual([
      ['good', 'other'],
      ['good', 'other'],
    ]);
  });

  it('at start, with nothing to keep, scores with rules only (not the default file) when the selected active fails', async () => {
    const { sut, handed } = watcher();
    await sut.apply({ active: 'bad', shadow: 'good' });
    await sut.apply({ active: 'missing', shadow: 'bad' });
    // No selection at all: the default file decides.
    await sut.apply(null);
    expect(handed).toEqual([
      [null, 'good'],
      [null, 'good'],
      [artifact.version, null],
    ]);
  });
});

describe('ModelWatcher: retrying a selected model that failed to load', () => {
  const failures = async (side: string) => (await metrics.modelLoadFailures.get()).values.find((v) => v.labels.side === side)?.value ?? 0;
  const running = async () =>
    Object.fromEntries(
      (await metrics.modelVersion.get()).values.filter((v) => v.value === 1).map((v) => [v.labels.side, v.labels.version]),
    );
  const degraded = () => degradations.list().filter((d) => d.component === 'model active');
  const failing = async () =>
    Object.fromEntries(
      (await metrics.modelLoadFailing.get()).values.filter((v) => v.labels.loader === 'scorer').map((v) => [v.labels.side, v.value]),
    );
  let sut: ModelWatcher | undefined;

  beforeEach(() => {
    jest.useFakeTimers();
    metrics.modelLoadFailures.reset();
    degradations.clear('model active');
  });
  afterEach(() => {
    sut?.stop();
    jest.useRealTimers();
  });

  it('loads an active model the store could not read at start once it can, reporting it meanwhile', async () => {
    const unreadable = new Set(['good']);
    const w = watcher(unreadable);
    sut = w.sut;
    await sut.apply({ active: 'good', shadow: 'other' });
    expect(w.handed).toEqual([[null, 'other']]);
    expect(await running()).toEqual({ active: 'none', shadow: 'other' });
    expect(await failures('active')).toBe(1);
    expect(degraded()).toEqual([expect.objectContaining({ reason: 'model good not loaded (running rules only)', error: 'TIMEOUT' })]);
    // A state for the alert to hold on: 1 for as long as it does not load, not a window of failures.
    expect(await failing()).toEqual({ active: 1, shadow: 0 });

    await jest.advanceTimersByTimeAsync(MODEL_RETRY_FIRST_MS);
    expect(w.handed).toHaveLength(1);
    expect(await failures('active')).toBe(2);

    unreadable.clear();
    await jest.advanceTimersByTimeAsync(MODEL_RETRY_MAX_MS);
    expect(w.handed).toEqual([
      [null, 'other'],
      ['good', 'other'],
    ]);
    expect(await running()).toEqual({ active: 'good', shadow: 'other' });
    expect(degraded()).toEqual([]);
    expect(await failing()).toEqual({ active: 0, shadow: 0 });
    // Loaded: no more reads.
    const reads = w.reads.length;
    await jest.advanceTimersByTimeAsync(10 * MODEL_RETRY_MAX_MS);
    expect(w.reads).toHaveLength(reads);
  });

  it('retries a failed shadow beside the active model, backing off rather than reading every second', async () => {
    const unreadable = new Set(['other']);
    const w = watcher(unreadable);
    sut = w.sut;
    await sut.apply({ active: 'good', shadow: 'other' });
    expect(degraded()).toEqual([]);
    await jest.advanceTimersByTimeAsync(30 * 60_000);
    expect(await failing()).toEqual({ active: 0, shadow: 1 });
    const retries = w.reads.filter((v) => v === 'other').length - 1;
    // Doubling to a minute: about 36 in half an hour, where a fixed second would be 1,800.
    expect(retries).toBeGreaterThan(20);
    expect(retries).toBeLessThan(60);
    expect(await failures('shadow')).toBe(retries + 1);

    unreadable.clear();
    await jest.advanceTimersByTimeAsync(MODEL_RETRY_MAX_MS);
    expect(w.handed.at(-1)).toEqual(['good', 'other']);
    expect(await failing()).toEqual({ active: 0, shadow: 0 });
  });

  it('never lets a retry override a newer selection, even one that was in flight', async () => {
    const unreadable = new Set(['good']);
    const w = watcher(unreadable);
    sut = w.sut;
    await sut.apply({ active: 'good', shadow: null });
    unreadable.clear();
    // The store answers slowly: the retry is still reading when the selection changes.
    let release!: () => void;
    const slow = new Promise<void>((r) => (release = r));
    const registry = (sut as unknown as { registry: { artifact: (v: string) => Promise<ModelArtifact> } }).registry;
    const read = registry.artifact;
    registry.artifact = async (v) => {
      if (v === 'good') await slow;
      return read(v);
    };
    await jest.advanceTimersByTimeAsync(MODEL_RETRY_FIRST_MS);
    await sut.apply({ active: 'other', shadow: null });
    release();
    await jest.advanceTimersByTimeAsync(10 * MODEL_RETRY_MAX_MS);
    expect(w.handed).toEqual([
      [null, null],
      ['other', null],
    ]);
    expect(degraded()).toEqual([]);
  });

  it('stops retrying when the selection changes and when stopped', async () => {
    const unreadable = new Set(['good', 'other']);
    const w = watcher(unreadable);
    sut = w.sut;
    await sut.apply({ active: 'good', shadow: null });
    await sut.apply({ active: null, shadow: null });
    expect(degraded()).toEqual([]);
    expect(await failing()).toEqual({ active: 0, shadow: 0 });
    await sut.apply({ active: 'other', shadow: null });
    sut.stop();
    const reads = w.reads.length;
    unreadable.clear();
    await jest.advanceTimersByTimeAsync(10 * MODEL_RETRY_MAX_MS);
    expect(w.reads).toHaveLength(reads);
    expect(w.handed).toEqual([
      [null, null],
      [null, null],
      [null, null],
    ]);
  });
});

describe('loadActiveModel: the API loading the model that decides now (for a backtest)', () => {
  const failures = async () => (await metrics.modelLoadFailures.get()).values.find((v) => v.labels.side === 'active')?.value ?? 0;
  const degraded = () => degradations.list().filter((d) => d.component === API_MODEL_COMPONENT);
  const failingActive = async () =>
    (await metrics.modelLoadFailing.get()).values.find((v) => v.labels.side === 'active' && v.labels.loader === 'api')?.value;
  const registry = (selection: { active: string | null; shadow: string | null } | null) =>
    ({
      selection: async () => selection && { ...selection, updatedAt: '2026-12-03T00:00:00.000Z' },
      artifact: async (version: string) => {
        if (!published[version]) throw new UnknownModelError(version);
        return published[version];
      },
    }) as unknown as ModelRegistry;

  beforeEach(() => {
    metrics.modelLoadFailures.reset();
    metrics.modelLoadFailing.reset();
    degradations.clear(API_MODEL_COMPONENT);
  });

  it('refuses with a clear error, counts the failure and says degraded while the selected model cannot be loaded; clears once it loads', async () => {
    for (const version of ['missing', 'bad']) {
      const refusal = loadActiveModel(registry({ active: version, shadow: null }), 'models/default/model.json');
      await expect(refusal).rejects.toBeInstanceOf(ModelUnavailableError);
      await expect(refusal).rejects.toThrow(`the active model ${version} could not be loaded`);
    }
    expect(await failures()).toBe(2);
    expect(degraded()).toEqual([
      expect.objectContaining({ cause: 'unknown', reason: 'model bad not loaded (backtests refused)', failures: 2 }),
    ]);
    // What "Selected active model not loaded" watches (with the scrape's `service` label): it pages for the API too.
    expect(await failingActive()).toBe(1);

    // A scorer failing in the same process (npm start from sources: one registry) is not cleared by the API's load.
    metrics.modelLoadFailing.labels('active', 'scorer').set(1);
    expect((await loadActiveModel(registry({ active: 'good', shadow: null }), ''))?.version).toBe('good');
    expect(degraded()).toEqual([]);
    expect(await failingActive()).toBe(0);
    expect((await metrics.modelLoadFailing.get()).values.find((v) => v.labels.loader === 'scorer')?.value).toBe(1);
  });

  it('loads the default file when the selection keeps the default model active (a shadow was chosen), as a scorer does', async () => {
    const model = await loadActiveModel(registry({ active: 'default', shadow: 'good' }), 'models/default/model.json');
    expect(model?.version).toBe(artifact.version);
    expect(await loadActiveModel(registry({ active: null, shadow: 'good' }), 'models/default/model.json')).toBeNull();
    expect(await loadActiveModel(registry(null), '')).toBeNull();
    expect(degraded()).toEqual([]);
  });
});

describe('ApiModelLoader: the API clears its failing state without another backtest', () => {
  const failingApi = async () =>
    (await metrics.modelLoadFailing.get()).values.find((v) => v.labels.side === 'active' && v.labels.loader === 'api')?.value;
  const degraded = () => degradations.list().filter((d) => d.component === API_MODEL_COMPONENT);
  let loader: ApiModelLoader | undefined;

  beforeEach(() => {
    jest.useFakeTimers();
    metrics.modelLoadFailing.reset();
    degradations.clear(API_MODEL_COMPONENT);
  });
  afterEach(() => {
    loader?.stop();
    jest.useRealTimers();
  });

  it('retries a failed load in the background: selecting a model that loads, or publishing the missing one, clears it', async () => {
    let selection = { active: 'missing', shadow: null as string | null, updatedAt: '2026-12-04T00:00:00.000Z' };
    const store: Record<string, ModelArtifact> = { ...published };
    const registry = {
      selection: async () => selection,
      artifact: async (version: string) => {
        if (!store[version]) throw new UnknownModelError(version);
        return store[version];
      },
    } as unknown as ModelRegistry;
    loader = new ApiModelLoader(registry, '');

    // One failed backtest load: failing, degraded, a retry pending.
    await expect(loader.load()).rejects.toBeInstanceOf(ModelUnavailableError);
    expect(await failingApi()).toBe(1);
    expect(loader.retrying).toBe(true);
    // Still missing at the first retry: still failing, retried later (backing off).
    await jest.advanceTimersByTimeAsync(MODEL_RETRY_FIRST_MS);
    expect(await failingApi()).toBe(1);
    expect(loader.retrying).toBe(true);
    // The operator selects another model: the next retry loads it, with no backtest.
    selection = { ...selection, active: 'good' };
    await jest.advanceTimersByTimeAsync(MODEL_RETRY_MAX_MS);
    expect(await failingApi()).toBe(0);
    expect(degraded()).toEqual([]);
    expect(loader.retrying).toBe(false);

    // A later failure, fixed by publishing the missing model again.
    selection = { ...selection, active: 'late' };
    await expect(loader.load()).rejects.toBeInstanceOf(ModelUnavailableError);
    expect(await failingApi()).toBe(1);
    store.late = { ...artifact, version: 'late' };
    await jest.advanceTimersByTimeAsync(MODEL_RETRY_FIRST_MS);
    expect(await failingApi()).toBe(0);
    expect(loader.retrying).toBe(false);
  });

  it('stops retrying when stopped (the API shutting down)', async () => {
    const registry = {
      selection: async () => ({ active: 'missing', shadow: null, updatedAt: '2026-12-04T00:00:00.000Z' }),
      artifact: async (version: string) => {
        throw new UnknownModelError(version);
      },
    } as unknown as ModelRegistry;
    loader = new ApiModelLoader(registry, '');
    await expect(loader.load()).rejects.toBeInstanceOf(ModelUnavailableError);
    loader.stop();
    expect(loader.retrying).toBe(false);
    await jest.advanceTimersByTimeAsync(MODEL_RETRY_MAX_MS);
    expect(loader.retrying).toBe(false);
  });
});
