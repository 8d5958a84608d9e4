import { readFileSync } from 'node:fs';
import { Objm } from '@nats-io/obj';
import { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { Topology } from '@app/contracts';
import { ConfigKey, ModelRegistry, ModelSelection, ModelWatcher, openConfigBucket } from '@app/live-config';
import { ModelArtifact } from '@app/model';
import { ModelRepository } from '@app/storage';
import { TEST_NATS_URL, deleteNamespace, eventually, testNamespace } from '@app/testing';

/**
 * DESIGN §5, models hot-swapped through the KV bucket, against the real NATS: the watcher a scorer
 * runs loads the active and the shadow model each on its own, so one that fails to load does not
 * hold back the other.
 */
describe('ModelWatcher on the KV bucket and the object store', () => {
  const namespace = testNamespace();
  const topology = new Topology(namespace);
  const artifact = JSON.parse(readFileSync('models/default/model.json', 'utf8')) as ModelArtifact;
  let nc: NatsConnection;
  let sut: ModelWatcher;
  const handed: [string | null, string | null][] = [];

  beforeAll(async () => {
    nc = await connect({ servers: TEST_NATS_URL });
    const store = await new Objm(nc).create(topology.modelsBucket);
    const stored: ModelArtifact[] = [
      { ...artifact, version: 'good' },
      { ...artifact, version: 'other' },
      { ...artifact, version: 'third' },
      // Published by an engine of another format: stored, but this scorer cannot load it.
      { ...artifact, version: 'bad', format: 'arbiter-model/0' as ModelArtifact['format'] },
    ];
    for (const a of stored) await store.putBlob({ name: a.version }, new TextEncoder().encode(JSON.stringify(a)));
    await select({ active: 'good', shadow: 'other' });
    // The watcher only reads artifacts; the cards the repository keeps play no part here.
    const registry = new ModelRegistry(nc, topology, null as unknown as ModelRepository);
    sut = new ModelWatcher(nc, topology, registry, 'models/default/model.json', (a, s) =>
      handed.push([a?.version ?? null, s?.version ?? null]),
    );
    await sut.start();
  });
  afterAll(async () => {
    sut.stop();
    await nc.close();
    await deleteNamespace(namespace);
  });

  async function select(selection: ModelSelection): Promise<void> {
    await (await openConfigBucket(nc, topology)).put(ConfigKey.Model, JSON.stringify(selection));
  }

  it('applies a good active model beside a shadow that fails to load, and a good shadow beside an active that fails', async () => {
    expect(handed).toEqual([['good', 'other']]);

    await select({ active: 'third', shadow: 'bad' });
    await eventually(
      async () => handed.length,
      (n) => n === 2,
    );
    expect(handed[1]).toEqual(['third', 'other']);

    await select({ active: 'bad', shadow: 'good' });
    await eventually(
      async () => handed.length,
      (n) => n === 3,
    );
    expect(handed[2]).toEqual(['third', 'good']);
  });
});

/** The selection a scorer starts with is read, then followed: a change while the first one loads is not lost. */
describe('ModelWatcher.start with a selection changed while the first one loads', () => {
  const namespace = testNamespace();
  const topology = new Topology(namespace);
  const artifact = JSON.parse(readFileSync('models/default/model.json', 'utf8')) as ModelArtifact;
  let nc: NatsConnection;
  let sut: ModelWatcher | undefined;

  beforeAll(async () => {
    nc = await connect({ servers: TEST_NATS_URL });
  });
  afterAll(async () => {
    sut?.stop();
    await nc.close();
    await deleteNamespace(namespace);
  });

  it('applies the change, and each later one once', async () => {
    const store = await new Objm(nc).create(topology.modelsBucket);
    for (const version of ['first', 'second']) {
      await store.putBlob({ name: version }, new TextEncoder().encode(JSON.stringify({ ...artifact, version })));
    }
    const kv = await openConfigBucket(nc, topology);
    await kv.put(ConfigKey.Model, JSON.stringify({ active: 'first', shadow: null }));
    const registry = new ModelRegistry(nc, topology, null as unknown as ModelRepository);
    const read = registry.artifact.bind(registry);
    let changed = false;
    registry.artifact = async (version) => {
      // An operator activates another model while this scorer is still loading the first one.
      if (!changed) {
        changed = true;
        await kv.put(ConfigKey.Model, JSON.stringify({ active: 'second', shadow: null }));
      }
      return read(version);
    };
    const handed: (string | null)[] = [];
    sut = new ModelWatcher(nc, topology, registry, 'models/default/model.json', (a) => handed.push(a?.version ?? null));
    await sut.start();
    await eventually(
      async () => handed,
      (h) => h.length >= 2,
    );
    // And follows on from there, without the change a second time.
    await kv.put(ConfigKey.Model, JSON.stringify({ active: 'first', shadow: null }));
    await eventually(
      async () => handed,
      (h) => h.length >= 3,
    );
    expect(handed).toEqual(['first', 'second', 'first']);
  });
});
