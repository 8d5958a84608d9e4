import { readFileSync } from 'node:fs';
import type { NatsConnection } from '@nats-io/nats-core';
import { Topology } from '@app/contracts';
import { ModelArtifact } from '@app/model';
import { ModelRegistry, UnknownModelError } from './model-registry';
import { ModelWatcher } from './model.watcher';

const artifact = JSON.parse(readFileSync('models/default/model.json', 'utf8')) as ModelArtifact;
const published: Record<string, ModelArtifact> = {
  good: { ...artifact, version: 'good' },
  other: { ...artifact, version: 'other' },
  // Stored, but this engine cannot load it.
  bad: { ...artifact, version: 'bad', format: 'arbiter-model/0' as ModelArtifact['format'] },
};

/** A store holding the artifacts above; `apply` is what the KV watch calls on each selection. */
function watcher(): { sut: ModelWatcher; handed: [string | null, string | null][] } {
  const registry = {
    artifact: async (version: string) => {
      if (!published[version]) throw new UnknownModelError(version);
      return published[version];
    },
  } as unknown as ModelRegistry;
  const handed: [string | null, string | null][] = [];
  const sut = new ModelWatcher({} as NatsConnection, new Topology('unit'), registry, 'models/default/model.json', (a, s) =>
    handed.push([a?.version ?? null, s?.version ?? null]),
  );
  return { sut, handed };
}

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
