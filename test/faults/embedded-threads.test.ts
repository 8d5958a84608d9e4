import { resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { jetstreamManager } from '@nats-io/jetstream';
import { TEST_NATS_URL, eventually, uid } from '@app/testing';
import { TestEngine, bootEngine, postJson, seedCatalog } from '../e2e/support/engine';

/**
 * `arbiter start` runs the scorer and the recorder each in a worker thread of its own, with
 * the gateway, the API and the notifier on the main thread (issue 19): the engine in this process, its services'
 * threads running the compiled script from dist/ (as `arbiter start` does; from TypeScript sources
 * there is none, and the e2e suite runs every service on one thread). FAULTS_NO_SERVICE_THREADS=1
 * runs the same tests with the services on the main thread: the blocked-thread test then fails.
 */
const SCRIPT = resolve(__dirname, '..', '..', 'dist', 'apps', 'cli', 'src', 'engine', 'service-thread.worker.js');

/**
 * A thread of the test's own: publishes `event` to the EVENTS stream once told to (while the
 * main thread is blocked), then flags when a verdict naming `id` is published.
 */
const HELPER = `
const { workerData, parentPort } = require('node:worker_threads');
const { connect } = require('@nats-io/transport-node');
const { natsUrl, eventSubject, verdictSubject, event, id, flags } = workerData;
const state = new Int32Array(flags);
(async () => {
  const nc = await connect({ servers: natsUrl });
  const verdicts = nc.subscribe(verdictSubject);
  await nc.flush();
  parentPort.postMessage('ready');
  Atomics.wait(state, 0, 0); // until the main thread says go (and blocks)
  nc.publish(eventSubject, event);
  await nc.flush();
  for await (const m of verdicts) {
    if (!new TextDecoder().decode(m.data).includes(id)) continue;
    Atomics.store(state, 1, 1);
    Atomics.notify(state, 1);
    break;
  }
  await nc.close();
})().catch((e) => parentPort.postMessage('failed: ' + e.message));
`;

describe('arbiter start: the consumer services in threads of their own', () => {
  let t: TestEngine;
  beforeAll(async () => {
    t = await bootEngine({ embedded: true, engine: { serviceThreadScript: process.env.FAULTS_NO_SERVICE_THREADS ? null : SCRIPT } });
  });
  afterAll(() => t?.stop());

  const click = (ids: { offerId: string; publisherId: string }, id: string) => ({
    id,
    offerId: ids.offerId,
    publisherId: ids.publisherId,
    ip: '8.8.8.8',
    userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
    ts: new Date(Date.now() - 60_000).toISOString(),
  });

  it('runs the scorer and the recorder off the main thread', () => {
    expect([...t.engine.threads].sort()).toEqual(['recorder', 'scorer']);
  });

  it('decides a click while the main thread (gateway and API) is blocked', async () => {
    const ids = await seedCatalog(t, uid('blocked'));
    // The message the gateway stores for a click, as a template for one published while it is blocked.
    const template = click(ids, uid('template'));
    expect((await postJson(`${t.gateway}/v1/clicks`, template)).status).toBe(202);
    await t.drained();
    const stored = await (
      await jetstreamManager(t.nc)
    ).streams.getMessage(t.topology.streams.events, { last_by_subj: t.topology.event('click', 0) });
    const event = stored!.json<Record<string, unknown>>();
    expect(event.id).toBe(template.id);
    const id = uid('while-blocked');

    const flags = new SharedArrayBuffer(8);
    const state = new Int32Array(flags);
    const helper = new Worker(HELPER, {
      eval: true,
      workerData: {
        natsUrl: TEST_NATS_URL,
        eventSubject: t.topology.event('click', 0),
        verdictSubject: t.topology.verdict('click'),
        event: JSON.stringify({ ...event, id, receivedAt: new Date().toISOString() }),
        id,
        flags,
      },
    });
    try {
      expect(await new Promise((done) => helper.once('message', done))).toBe('ready');
      Atomics.store(state, 0, 1);
      Atomics.notify(state, 0);
      // This thread runs the gateway and the API: nothing on it moves until the wait ends. A scorer
      // sharing it could not decide; in a thread of its own it does, and the helper wakes us.
      const woken = Atomics.wait(state, 1, 0, 30_000);
      expect({ decidedWhileBlocked: woken !== 'timed-out' }).toEqual({ decidedWhileBlocked: true });
    } finally {
      await helper.terminate();
    }
    await t.drained();
    const { rows } = await t.db.query(`SELECT count(*)::int AS n FROM click_verdicts WHERE click_id = $1`, [id]);
    expect(rows[0].n).toBe(1);
  });

  it('keeps every click decided and stored exactly once across restarts of the scorer and the recorder under traffic', async () => {
    const ids = await seedCatalog(t, uid('restart'));
    const sent: string[] = [];
    for (let batch = 0; batch < 12; batch++) {
      const body = Array.from({ length: 50 }, () => click(ids, uid('r')));
      const res = await postJson(`${t.gateway}/v1/clicks`, body);
      expect(res.status).toBe(202);
      sent.push(...body.map((c) => c.id));
      if (batch === 3) await t.engine.restart('scorer');
      if (batch === 7) await t.engine.restart('recorder');
    }
    // A message a stopping consumer could not hand back is redelivered after its ack_wait (30 s):
    // the counts may take that long to settle, and must then be exact.
    const stored = async () =>
      (
        await t.db.query(
          `SELECT (SELECT count(*)::int FROM clicks WHERE offer_id = $1) AS clicks,
                  (SELECT count(DISTINCT click_id)::int FROM click_verdicts WHERE offer_id = $1) AS decided,
                  (SELECT count(*)::int FROM click_verdicts WHERE offer_id = $1) AS verdicts`,
          [ids.offerId],
        )
      ).rows[0];
    const expected = { clicks: sent.length, decided: sent.length, verdicts: sent.length };
    await eventually(stored, (c) => c.clicks >= sent.length && c.verdicts >= sent.length, 90_000);
    await t.drained();
    expect(await stored()).toEqual(expected);
  });

  it("answers for the threads' consumers on the gateway's /metrics and /health", async () => {
    // Each consumer sets its lag gauge when it first looks at its durable (a restarted one anew).
    const consumers = ['scorer-p0', 'recorder-events', 'recorder-verdicts', 'notifier-decisions'];
    const reported = await eventually(
      async () => {
        const metrics = await (await fetch(`${t.gateway}/metrics`)).text();
        return consumers.filter((c) => metrics.includes(`arbiter_consumer_pending{consumer="${c}"}`));
      },
      (found) => found.length === consumers.length,
      30_000,
    );
    expect(reported).toEqual(consumers);
    expect(((await (await fetch(`${t.gateway}/health`)).json()) as { status: string }).status).toBe('up');
  });
});
