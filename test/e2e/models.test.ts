import { readFileSync } from 'node:fs';
import { ClickVerdict } from '@app/contracts';
import { ModelArtifact } from '@app/model';
import { bodyItems } from '@app/messaging';
import { ModelRegistry } from '@app/live-config';
import { ModelRepository } from '@app/storage';
import { CHROME_UA, eventually, uid } from '@app/testing';
import { ADMIN_KEY, TestEngine, bootEngine, postJson, seedCatalog } from './support/engine';

/** DESIGN §5: models are published, activated and shadowed on running scorers without restart. */
describe('model activation through the KV bucket (services booted)', () => {
  let t: TestEngine;
  const admin = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
  const artifact = JSON.parse(readFileSync('models/default/model.json', 'utf8')) as ModelArtifact;

  beforeAll(async () => {
    t = await bootEngine();
  });
  afterAll(async () => {
    await t.stop();
  });

  async function verdictOf(ids: { offerId: string; publisherId: string }, n: number): Promise<ClickVerdict> {
    const sub = t.nc.subscribe(t.topology.verdict('click'), { timeout: 15_000 });
    const click = await postJson(`${t.gateway}/v1/clicks`, {
      offerId: ids.offerId,
      publisherId: ids.publisherId,
      ip: `8.8.5.${n}`,
      userAgent: CHROME_UA,
      referrer: 'https://blog.example/',
    });
    for await (const m of sub) {
      // A verdict message may carry several verdicts (outcome items).
      for (const v of bodyItems(m.string()) as ClickVerdict[]) {
        if (v.clickId === click.body.id) {
          sub.unsubscribe();
          return v;
        }
      }
    }
    throw new Error('no verdict');
  }

  it('scores with rules only, then with a published model once it is activated, then with a shadow beside it', async () => {
    const ids = await seedCatalog(t, uid('model'));
    const before = await verdictOf(ids, 1);
    expect(before).toMatchObject({ modelVersion: null, modelScore: null, shadowModelVersion: null });

    const registry = new ModelRegistry(t.nc, t.topology, new ModelRepository(t.db));
    const candidate: ModelArtifact = { ...artifact, version: `${artifact.version}-candidate` };
    await registry.publish(artifact, 'test');
    await registry.publish(candidate, 'test');
    const listed = (await (await fetch(`${t.api}/v1/admin/models`, { headers: admin })).json()) as { versions: { version: string }[] };
    expect(listed.versions.map((v) => v.version).sort()).toEqual([artifact.version, candidate.version].sort());

    const unknown = await fetch(`${t.api}/v1/admin/models/selection`, {
      method: 'PUT',
      headers: admin,
      body: JSON.stringify({ active: 'nope' }),
    });
    expect(unknown.status).toBe(404);
    const selected = await fetch(`${t.api}/v1/admin/models/selection`, {
      method: 'PUT',
      headers: admin,
      body: JSON.stringify({ active: artifact.version }),
    });
    expect(selected.status).toBe(200);

    let n = 2;
    const active = await eventually(
      () => verdictOf(ids, n++),
      (v) => v.modelVersion === artifact.version,
    );
    expect(active.modelScore).toBeGreaterThanOrEqual(0);
    expect(active.modelScore).toBeLessThanOrEqual(1);
    expect(active.shadowModelVersion).toBeNull();

    await fetch(`${t.api}/v1/admin/models/selection`, {
      method: 'PUT',
      headers: admin,
      body: JSON.stringify({ shadow: candidate.version }),
    });
    const shadowed = await eventually(
      () => verdictOf(ids, n++),
      (v) => v.shadowModelVersion === candidate.version,
    );
    // Same forests under another name: the shadow scores exactly as the active model.
    expect(shadowed.shadowScore).toBe(shadowed.modelScore);
    expect(shadowed.modelVersion).toBe(artifact.version);
    const stored = await eventually(
      async () =>
        (
          await t.db.query(`SELECT model_version, model_score, shadow_model_version FROM click_verdicts WHERE click_id = $1`, [
            shadowed.clickId,
          ])
        ).rows[0],
    );
    expect(stored).toEqual({ model_version: artifact.version, model_score: expect.any(Number), shadow_model_version: candidate.version });

    await fetch(`${t.api}/v1/admin/models/selection`, {
      method: 'PUT',
      headers: admin,
      body: JSON.stringify({ active: null, shadow: null }),
    });
    await eventually(
      () => verdictOf(ids, n++),
      (v) => v.modelVersion === null && v.shadowModelVersion === null,
    );
  });
});

/** Issue 14: choosing a shadow keeps the deciding model; promoting the shadow ends its shadow run. */
describe('shadow selection beside the default model (services booted)', () => {
  let t: TestEngine;
  const artifact = JSON.parse(readFileSync('models/default/model.json', 'utf8')) as ModelArtifact;

  beforeAll(async () => {
    t = await bootEngine({ config: { ARBITER_DEFAULT_MODEL: 'models/default/model.json' } });
  });
  afterAll(async () => {
    await t.stop();
  });

  it('keeps the default model deciding when only a shadow is chosen, and clears the shadow when it is activated', async () => {
    const ids = await seedCatalog(t, uid('shadow'));
    const registry = new ModelRegistry(t.nc, t.topology, new ModelRepository(t.db));
    const candidate: ModelArtifact = { ...artifact, version: `${artifact.version}-${uid('cand')}` };
    await registry.publish(candidate, 'test');
    let n = 1;
    const verdict = async () => {
      const sub = t.nc.subscribe(t.topology.verdict('click'), { timeout: 15_000 });
      const click = await postJson(`${t.gateway}/v1/clicks`, {
        offerId: ids.offerId,
        publisherId: ids.publisherId,
        ip: `8.8.6.${n++}`,
        userAgent: CHROME_UA,
      });
      for await (const m of sub) {
        for (const v of bodyItems(m.string()) as ClickVerdict[]) {
          if (v.clickId === click.body.id) {
            sub.unsubscribe();
            return v;
          }
        }
      }
      throw new Error('no verdict');
    };
    expect(await verdict()).toMatchObject({ modelVersion: artifact.version, shadowModelVersion: null });

    expect(await registry.select({ shadow: candidate.version }, 'test')).toMatchObject({ active: 'default', shadow: candidate.version });
    const shadowed = await eventually(verdict, (v) => v.shadowModelVersion === candidate.version);
    expect(shadowed.modelVersion).toBe(artifact.version);

    expect(await registry.select({ active: candidate.version }, 'test')).toMatchObject({ active: candidate.version, shadow: null });
    await eventually(verdict, (v) => v.modelVersion === candidate.version && v.shadowModelVersion === null);
  });
});
