import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/nats-core';
import { CHROME_UA, uid } from '@app/testing';
import { DEAD_LETTER_HEADERS, DeadLetters, ITEMS_HEADER, ITEMS_PER_MESSAGE, engineDurables } from '@app/messaging';
import { readStream } from '../faults/support/accounting';
import { NatsServer } from '../faults/support/servers';
import { TestEngine, bootEngine, postJson, seedCatalog } from './support/engine';

/**
 * The gateway stores the events of a request whose ids it minted several to a JetStream message
 * (per partition, ITEMS_PER_MESSAGE at most), and every reader of the EVENTS stream — the
 * recorder, the scorer, the scorer's rebuild of its windows, dead letters and their replay — takes
 * such a message exactly as that many single ones. Events with their sender's ids stay one message
 * each, so a re-send is answered `duplicate` per event.
 */
describe('events of a request with minted ids travel several to a message', () => {
  let t: TestEngine;
  let ids: { offerId: string; publisherId: string; advertiserId: string };
  let ipCounter = 0;
  /** A distinct address each call: both partitions get some, and no velocity rule fires by accident. */
  const ip = () => `23.${(++ipCounter >> 8) & 255}.${ipCounter & 255}.${(ipCounter % 200) + 1}`;
  const click = (overrides: Record<string, unknown> = {}) => ({
    offerId: ids.offerId,
    publisherId: ids.publisherId,
    ip: ip(),
    userAgent: CHROME_UA,
    ...overrides,
  });

  beforeAll(async () => {
    // Two partitions: batches must never mix them. A raised body limit lets one request carry more than NATS's max_payload.
    t = await bootEngine({ config: { ARBITER_PARTITIONS: 2, GATEWAY_BODY_LIMIT_BYTES: 4 * 1024 ** 2 } });
    ids = await seedCatalog(t, uid('batches'));
  });
  afterAll(async () => {
    await t?.stop();
  });

  async function counts(table: string, column: string, keys: string[]): Promise<Map<string, number>> {
    const { rows } = await t.db.query(`SELECT ${column} AS id, count(*)::int AS n FROM ${table} WHERE ${column} = ANY($1) GROUP BY 1`, [
      keys,
    ]);
    return new Map(rows.map((r) => [r.id as string, r.n as number]));
  }

  /** Every id stored exactly once as a click and decided exactly once. */
  async function expectStoredAndDecidedOnce(clickIds: string[]): Promise<void> {
    const once = new Map(clickIds.map((id) => [id, 1]));
    expect(await counts('clicks', 'id', clickIds)).toEqual(once);
    expect(await counts('click_verdicts', 'click_id', clickIds)).toEqual(once);
  }

  /** The EVENTS messages that carry any of `clickIds`, with their items. */
  async function messagesOf(clickIds: string[]) {
    const wanted = new Set(clickIds);
    const out: { subject: string; seq: number; msgId?: string; header?: string; items: { id: string; partition: number }[] }[] = [];
    for (const m of await readStream(t.nc, t.topology.streams.events)) {
      const body = m.json<unknown>();
      const items = (Array.isArray(body) ? body : [body]) as { id: string; partition: number }[];
      if (items.some((i) => wanted.has(i.id)))
        out.push({
          subject: m.subject,
          seq: m.seq,
          msgId: m.headers?.get('Nats-Msg-Id'),
          header: m.headers?.get(ITEMS_HEADER) || undefined,
          items,
        });
    }
    return out;
  }

  it('stores 250 minted clicks as a few messages per partition, each click stored and decided once', async () => {
    const res = await postJson(
      `${t.gateway}/v1/clicks`,
      Array.from({ length: 250 }, () => click()),
    );
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ accepted: 250, rejected: 0, failed: 0 });
    const clickIds: string[] = res.body.results.map((r: { id: string }) => r.id);
    expect(new Set(clickIds).size).toBe(250);
    expect(res.body.results.every((r: { status: string; duplicate: boolean }) => r.status === 'accepted' && r.duplicate === false)).toBe(
      true,
    );

    const messages = await messagesOf(clickIds);
    const perPartition = [0, 1].map((p) => clickIds.filter((id) => id.startsWith(`c${p}.`)).length);
    expect(perPartition.every((n) => n > 0)).toBe(true);
    // One message per ITEMS_PER_MESSAGE clicks of a partition (rounded up), instead of one per click.
    expect(messages).toHaveLength(perPartition.reduce((a, n) => a + Math.ceil(n / ITEMS_PER_MESSAGE), 0));
    for (const m of messages) {
      // Never two partitions in one message; the header counts the items.
      expect(new Set(m.items.map((i) => t.topology.event('click', i.partition)))).toEqual(new Set([m.subject]));
      expect(m.header).toBe(m.items.length > 1 ? String(m.items.length) : undefined);
    }
    expect(messages.flatMap((m) => m.items.map((i) => i.id)).sort()).toEqual([...clickIds].sort());

    await t.drained();
    await expectStoredAndDecidedOnce(clickIds);
  });

  it('keeps an event with its sender’s id a message of its own, answering its re-send duplicate, beside minted ones', async () => {
    const own = [uid('own-a'), uid('own-b')];
    const body = [click({ id: own[0] }), click(), click(), click({ id: own[1] }), click()];
    const first = await postJson(`${t.gateway}/v1/clicks`, body);
    const again = await postJson(`${t.gateway}/v1/clicks`, body);
    const answers = (r: { body: { results: { id: string; duplicate: boolean }[] } }) => r.body.results.map((x) => x.duplicate);
    expect(answers(first)).toEqual([false, false, false, false, false]);
    // The sender's ids were stored already; the events without ids are new events with new ids.
    expect(answers(again)).toEqual([true, false, false, true, false]);
    const minted = [...first.body.results, ...again.body.results]
      .map((r: { id: string }) => r.id)
      .filter((id: string) => !own.includes(id));
    expect(new Set(minted).size).toBe(6);

    const messages = await messagesOf([...own, ...minted]);
    for (const id of own) {
      expect(messages.filter((m) => m.items.some((i) => i.id === id))).toEqual([
        expect.objectContaining({ msgId: `click:${id}`, header: undefined, items: [expect.objectContaining({ id })] }),
      ]);
    }
    await t.drained();
    await expectStoredAndDecidedOnce([...own, ...minted]);
  });

  it('stores and decides the clicks of a batch message delivered twice once', async () => {
    const res = await postJson(
      `${t.gateway}/v1/clicks`,
      Array.from({ length: 30 }, () => click()),
    );
    const clickIds: string[] = res.body.results.map((r: { id: string }) => r.id);
    await t.drained();
    const [batch] = (await messagesOf(clickIds)).filter((m) => m.items.length > 1);
    const stored = await (await jetstreamManager(t.nc)).streams.getMessage(t.topology.streams.events, { seq: batch.seq });
    // The very message again, past the stream's de-duplication: both consumers see it a second time.
    const h = natsHeaders();
    h.set(ITEMS_HEADER, String(batch.items.length));
    await jetstream(t.nc).publish(batch.subject, stored!.data, { msgID: uid('bypass'), headers: h });
    await t.drained();
    await expectStoredAndDecidedOnce(clickIds);
  });

  it('dead-letters a poison item of a batch message alone, from each consumer, handles its neighbours, and replays just the item', async () => {
    const res = await postJson(`${t.gateway}/v1/clicks`, [click(), click()]);
    await t.drained();
    const [template] = (await messagesOf(res.body.results.map((r: { id: string }) => r.id)))[0].items as unknown as Record<
      string,
      unknown
    >[];
    const good = [uid('good-1'), uid('good-2')];
    const badId = uid('bad');
    const subject = t.topology.event('click', template.partition as number);
    const items = [
      { ...template, id: good[0] },
      { ...template, id: badId, ip: 42 },
      { ...template, id: good[1] },
    ];
    const h = natsHeaders();
    h.set(ITEMS_HEADER, '3');
    const ack = await jetstream(t.nc).publish(subject, JSON.stringify(items), { msgID: uid('poison-batch'), headers: h });
    await t.drained();
    await expectStoredAndDecidedOnce(good);
    expect(await counts('clicks', 'id', [badId])).toEqual(new Map());

    const letters = (await readStream(t.nc, t.topology.streams.dlq)).filter(
      (m) => m.headers?.get(DEAD_LETTER_HEADERS.eventId) === `click:${badId}`,
    );
    expect(letters.map((m) => m.headers?.get(DEAD_LETTER_HEADERS.source)).sort()).toEqual([
      'recorder-events',
      `scorer-p${template.partition}`,
    ]);
    for (const m of letters) {
      expect(m.json()).toEqual(items[1]); // the item alone, in the shape of a single message
      expect(m.headers?.get(DEAD_LETTER_HEADERS.streamSeq)).toBe(String(ack.seq));
      expect(m.headers?.get(ITEMS_HEADER)).toBeFalsy();
    }

    // Replayed, each goes back to its consumer alone: still poison, parked again (and only it).
    const dlq = new DeadLetters(t.nc, await jetstreamManager(t.nc), t.topology);
    const replay = await dlq.replay({ ids: letters.map((m) => `DLQ:${m.seq}`) }, engineDurables(t.topology, t.engine.config));
    expect(replay.replayed).toBe(2);
    await t.drained();
    const again = (await readStream(t.nc, t.topology.streams.dlq)).filter(
      (m) => m.headers?.get(DEAD_LETTER_HEADERS.eventId) === `click:${badId}`,
    );
    expect(again.map((m) => [m.headers?.get(DEAD_LETTER_HEADERS.replays), m.json()])).toEqual([
      ['1', items[1]],
      ['1', items[1]],
    ]);
    await expectStoredAndDecidedOnce(good);
  });

  /** The ids of `clickIds`' EVENTS messages' items, in stream order. */
  async function storedOrder(clickIds: string[]): Promise<string[]> {
    const wanted = new Set(clickIds);
    return (await messagesOf(clickIds))
      .sort((a, b) => a.seq - b.seq)
      .flatMap((m) => m.items.map((i) => i.id))
      .filter((id) => wanted.has(id));
  }

  it('stores the events of one partition in request order when minted and sender-id events alternate', async () => {
    // One address: one partition. Which of two clicks DUPLICATE_CLICK flags depends on this order.
    const address = '45.9.8.7';
    const own = uid('own-mid');
    const res = await postJson(`${t.gateway}/v1/clicks`, [
      click({ ip: address }),
      click({ ip: address }),
      click({ ip: address, id: own }),
      click({ ip: address }),
    ]);
    expect(res.body).toMatchObject({ accepted: 4, failed: 0 });
    const clickIds: string[] = res.body.results.map((r: { id: string }) => r.id);
    expect(await storedOrder(clickIds)).toEqual(clickIds);
  });

  it('splits a request larger than NATS’s max_payload into messages under it', async () => {
    // About 12 kB of UTF-8 a click, 1.2 MB for 100: over the 1 MiB max_payload as one message.
    const res = await postJson(
      `${t.gateway}/v1/clicks`,
      Array.from({ length: 100 }, () =>
        click({ userAgent: `${CHROME_UA} ${'€'.repeat(1900)}`, referrer: `https://x.example/${'€'.repeat(1900)}` }),
      ),
    );
    expect(res.body).toMatchObject({ accepted: 100, failed: 0 });
    const clickIds: string[] = res.body.results.map((r: { id: string }) => r.id);
    const messages = await messagesOf(clickIds);
    expect(messages.length).toBeLessThan(20);
    await t.drained();
    await expectStoredAndDecidedOnce(clickIds);
  });

  it('rebuilds a restarted scorer’s windows from batch messages', async () => {
    // 15 clicks from one address in one request (one message), then the scorer restarts.
    const address = '45.1.2.3';
    const before = await postJson(
      `${t.gateway}/v1/clicks`,
      Array.from({ length: 15 }, () => click({ ip: address })),
    );
    expect(before.body.accepted).toBe(15);
    await t.drained();
    await t.engine.restart('scorer');
    // 10 more: with the 15 it replayed, the 6th onward passes IP_VELOCITY's 20 a minute.
    const after = await postJson(
      `${t.gateway}/v1/clicks`,
      Array.from({ length: 10 }, () => click({ ip: address })),
    );
    await t.drained();
    const { rows } = await t.db.query(
      `SELECT click_id FROM click_verdicts WHERE click_id = ANY($1) AND 'IP_VELOCITY' = ANY(reason_codes)`,
      [after.body.results.map((r: { id: string }) => r.id)],
    );
    expect(rows.length).toBeGreaterThanOrEqual(5);
  });

  // These two lower the stream's max_msg_size; the gateway reads a raised limit again only after a while, so they come last.
  it('splits a message the stream refused for its size again, down to single events, before answering', async () => {
    const jsm = await jetstreamManager(t.nc);
    const info = await jsm.streams.info(t.topology.streams.events);
    // Room for a single click, not for a message of many.
    await jsm.streams.update(t.topology.streams.events, { ...info.config, max_msg_size: 2000 });
    try {
      const own = uid('own');
      // One address: every click in one partition, the minted ones in one message.
      const address = '45.9.9.9';
      const body = [click({ ip: address }), click({ ip: address, id: own }), ...Array.from({ length: 20 }, () => click({ ip: address }))];
      const res = await postJson(`${t.gateway}/v1/clicks`, body);
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({ accepted: 22, failed: 0 });
      const clickIds: string[] = res.body.results.map((r: { id: string }) => r.id);
      expect(new Set(await storedOrder(clickIds))).toEqual(new Set(clickIds));
      await t.drained();
      await expectStoredAndDecidedOnce(clickIds);
    } finally {
      await jsm.streams.update(t.topology.streams.events, { ...info.config, max_msg_size: -1 });
    }
  });

  it('answers every event failed when the stream refuses even one alone', async () => {
    const jsm = await jetstreamManager(t.nc);
    const info = await jsm.streams.info(t.topology.streams.events);
    // Too small even for one click: nothing of this request can be stored.
    await jsm.streams.update(t.topology.streams.events, { ...info.config, max_msg_size: 100 });
    try {
      const address = '45.9.9.10';
      const body = [
        click({ ip: address }),
        click({ ip: address, id: uid('own') }),
        ...Array.from({ length: 20 }, () => click({ ip: address })),
      ];
      const res = await postJson(`${t.gateway}/v1/clicks`, body);
      expect(res.body).toMatchObject({ accepted: 0, failed: 22 });
      expect(res.body.results.every((r: { status: string }) => r.status === 'failed')).toBe(true);
    } finally {
      await jsm.streams.update(t.topology.streams.events, { ...info.config, max_msg_size: -1 });
    }
  });
});

describe('events of a request with minted ids on a NATS server with a small max_payload', () => {
  let nats: NatsServer;
  let t: TestEngine;
  let ids: { offerId: string; publisherId: string; advertiserId: string };

  beforeAll(async () => {
    // A server of the test's own (the shared one keeps NATS's default 1 MiB): 16 KiB a message.
    nats = await NatsServer.single('small-payload', ['max_payload: 16384']);
    t = await bootEngine({ natsUrl: nats.url });
    ids = await seedCatalog(t, uid('small'));
  }, 60_000);
  afterAll(async () => {
    await t?.stop();
    await nats?.stop();
    nats?.cleanup();
  });

  it('batches under the server’s max_payload, so every event is stored', async () => {
    // About 500 bytes a click: 100 of them are some 50 kB, more than 16 KiB as one message.
    const res = await postJson(
      `${t.gateway}/v1/clicks`,
      Array.from({ length: 100 }, (_, k) => ({
        offerId: ids.offerId,
        publisherId: ids.publisherId,
        ip: '45.9.9.11',
        userAgent: `${CHROME_UA} ${k}`,
      })),
    );
    expect(res.body).toMatchObject({ accepted: 100, failed: 0 });
    const clickIds: string[] = res.body.results.map((r: { id: string }) => r.id);
    const sizes = (await readStream(t.nc, t.topology.streams.events)).map((m) => m.data.length);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(16384);
    // Still batched: fewer messages than clicks.
    expect(sizes.length).toBeLessThan(20);
    await t.drained();
    const { rows } = await t.db.query(`SELECT count(*)::int AS n FROM clicks WHERE id = ANY($1)`, [clickIds]);
    expect(rows[0].n).toBe(100);
  });
});
