import { AckPolicy, DeliverPolicy, jetstreamManager } from '@nats-io/jetstream';
import { CHROME_UA, eventually, uid } from '@app/testing';
import { ADMIN_KEY, TestEngine, bootEngine, seedCatalog } from './support/engine';

/**
 * A full EVENTS (discard new) refuses new events instead of dropping stored ones: the gateway
 * answers 503 with Retry-After and counts them; a durable that keeps the stream from being trimmed
 * (here one left by an earlier deployment, with a backlog) is named on /health and in the metrics;
 * once it is deleted the recorder's trimmer makes room and events are taken again. Every event the
 * gateway accepted is recorded and scored. The whole engine with 256 KiB streams.
 */
describe('a full EVENTS stream', () => {
  let t: TestEngine;
  let ids: { offerId: string; publisherId: string; advertiserId: string };

  beforeAll(async () => {
    t = await bootEngine({ config: { EVENTS_MAX_BYTES: 256 * 1024 } });
    ids = await seedCatalog(t, uid('full'));
  });
  afterAll(async () => {
    await t?.stop();
  });

  let n = 0;
  const clicks = (count: number) =>
    Array.from({ length: count }, () => ({
      offerId: ids.offerId,
      publisherId: ids.publisherId,
      ip: `23.9.${(++n >> 8) & 255}.${(n % 250) + 1}`,
      userAgent: CHROME_UA,
    }));
  const post = (body: unknown) =>
    fetch(`${t.gateway}/v1/clicks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_KEY}` },
      body: JSON.stringify(body),
    });

  it('refuses events with a retryable 503 while a stale durable blocks trimming, says so, and loses nothing it accepted', async () => {
    const jsm = await jetstreamManager(t.nc);
    await jsm.consumers.add(t.topology.streams.events, {
      durable_name: 'recorder-events-v0',
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: t.topology.allEvents,
    });

    const accepted: string[] = [];
    let refusal: Response | undefined;
    for (let i = 0; i < 200 && !refusal; i++) {
      const res = await post(clicks(50));
      const body = (await res.json()) as { results: { status: string; id: string }[] };
      accepted.push(...body.results.filter((r) => r.status === 'accepted').map((r) => r.id));
      if (res.status === 503) refusal = res;
      else expect([202, 207]).toContain(res.status);
    }
    expect(refusal).toBeDefined();
    expect(refusal!.headers.get('retry-after')).toBe('5');
    // A single event may still fit what a batch did not: until it no longer does.
    let single = await post(clicks(1)[0]);
    for (let i = 0; i < 200 && single.status === 202; i++) {
      accepted.push(((await single.json()) as { id: string }).id);
      single = await post(clicks(1)[0]);
    }
    expect(single.status).toBe(503);
    expect(single.headers.get('retry-after')).toBe('5');
    expect(await single.json()).toMatchObject({ error: 'unavailable', message: expect.stringMatching(/send it again later/) });

    const metrics = async () => (await fetch(`${t.gateway}/metrics`)).text();
    expect(await metrics()).toMatch(/arbiter_events_failed_total\{kind="click"\} [1-9]/);
    const health = await eventually(
      async () => (await fetch(`${t.api}/health`)).json() as Promise<{ status: string; degraded?: { component: string; error: string }[] }>,
      (h) => h.degraded?.some((d) => d.component === 'stream EVENTS') ?? false,
    );
    expect(health.status).toBe('degraded');
    expect(health.degraded!.find((d) => d.component === 'stream EVENTS')!.error).toMatch(
      /recorder-events-v0 \([0-9]+ not acknowledged; not a consumer of this configuration/,
    );
    expect(await metrics()).toMatch(/arbiter_stream_trim_blocked\{stream="EVENTS",consumer="recorder-events-v0"\} [1-9]/);

    // The operator deletes the stale durable: within a trimming round events are taken again.
    await jsm.consumers.delete(t.topology.streams.events, 'recorder-events-v0');
    await eventually(
      async () => {
        const res = await post(clicks(1)[0]);
        if (res.status === 202) accepted.push(((await res.json()) as { id: string }).id);
        return res.status;
      },
      (status) => status === 202,
      30_000,
      500,
    );
    await eventually(
      async () => (await (await fetch(`${t.api}/health`)).json()) as { degraded?: { component: string }[] },
      (h) => !h.degraded?.some((d) => d.component === 'stream EVENTS'),
    );

    // Nothing the gateway accepted was lost: every click stored and scored once.
    await t.drained();
    const { rows } = await t.db.query(
      'SELECT (SELECT count(*)::int FROM clicks WHERE id = ANY($1)) AS clicks, (SELECT count(*)::int FROM click_verdicts WHERE click_id = ANY($1)) AS verdicts',
      [accepted],
    );
    expect(rows[0]).toEqual({ clicks: accepted.length, verdicts: accepted.length });
  }, 120_000);
});
