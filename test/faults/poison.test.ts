import { headers as natsHeaders } from '@nats-io/nats-core';
import { jetstream } from '@nats-io/jetstream';
import { Cluster, Sender, readStream, seedCatalog, settleAndAccount, simulate, reportExactlyOnce } from './support';

/**
 * Poison, two ways. Over HTTP: well-formed JSON with impossible values is refused with a 4xx and
 * never stored. Straight onto the EVENTS stream (as a buggy producer or a hand-published message
 * would): bytes that are not JSON, and JSON events that break their contract, are parked on the
 * dead-letter stream with their error by every consumer of the stream, and the good events
 * published after them are processed as usual.
 */
describe('fault: poison messages', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await Cluster.start({ fault: 'poison' });
  });
  afterAll(() => cluster?.close());

  it('refuses impossible values over HTTP, dead-letters poison on the stream, and keeps going', async () => {
    const started = Date.now();
    const { catalog, events } = simulate({ seed: 505, events: 1500 });
    await seedCatalog(cluster, catalog);
    const click = events.find((e) => e.kind === 'click')!;
    const conversion = events.find((e) => e.kind === 'conversion')!;
    const { kind: _k, label: _l, pattern: _p, ...clickInput } = click;
    const { kind: _k2, label: _l2, pattern: _p2, ...conversionInput } = conversion;

    // 1. HTTP: every one of these is a 4xx, one at a time and inside a batch, and is never stored.
    const impossible: [string, 'clicks' | 'conversions', Record<string, unknown>][] = [
      ['negative amount', 'conversions', { ...conversionInput, id: 'poison-http-1', amount: -5 }],
      ['amount above the money range', 'conversions', { ...conversionInput, id: 'poison-http-2', amount: 1e13 }],
      ['amount at the money limit', 'conversions', { ...conversionInput, id: 'poison-http-3', amount: 1e12 }],
      ['amount as a string', 'conversions', { ...conversionInput, id: 'poison-http-4', amount: '12.50' }],
      ['ts far in the future', 'clicks', { ...clickInput, id: 'poison-http-5', ts: '2999-01-01T00:00:00Z' }],
      ['ts that is no date', 'clicks', { ...clickInput, id: 'poison-http-6', ts: '2026-02-30T10:00:00Z' }],
      ['ts on a leap second', 'clicks', { ...clickInput, id: 'poison-http-7', ts: '2016-12-31T23:59:60Z' }],
      ['id with spaces', 'clicks', { ...clickInput, id: 'poison http 8' }],
      ['id too long', 'clicks', { ...clickInput, id: `poison-http-9-${'x'.repeat(80)}` }],
      ['ip far too long', 'clicks', { ...clickInput, id: 'poison-http-10', ip: '1'.repeat(500) }],
      ['offer id empty', 'clicks', { ...clickInput, id: 'poison-http-11', offerId: '' }],
      ['unknown field', 'clicks', { ...clickInput, id: 'poison-http-12', hack: true }],
      ['offerId a number', 'clicks', { ...clickInput, id: 'poison-http-13', offerId: 42 }],
      ['conversion without clickId', 'conversions', { ...conversionInput, id: 'poison-http-14', clickId: undefined }],
    ];
    const answers: Record<string, number> = {};
    for (const [name, path, body] of impossible) {
      const res = await fetch(`${cluster.gateway}/v1/${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${cluster.adminKey}` },
        body: JSON.stringify(body),
      });
      answers[name] = res.status;
      const batch = await fetch(`${cluster.gateway}/v1/${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${cluster.adminKey}` },
        body: JSON.stringify([body]),
      });
      answers[`${name} (in a batch)`] = batch.status;
    }
    expect(answers).toEqual(Object.fromEntries(Object.keys(answers).map((k) => [k, 400])));

    // 2. NATS: poison published straight to the events subjects, between good events.
    const good = new Sender(cluster.gateway);
    await good.send(events.slice(0, 200), { batch: 100 });
    const [stored] = await readStream(cluster.nc, cluster.topology.streams.events, cluster.topology.event('click', 0)).then((m) =>
      m.slice(0, 1),
    );
    const template = stored.json<Record<string, unknown>>();
    const js = jetstream(cluster.nc);
    const poison: [string, string, Uint8Array | string][] = [
      ['not JSON', cluster.topology.event('click', 0), '{"id": "poison-nats-1", '],
      ['binary', cluster.topology.event('conversion', 0), new Uint8Array([0, 159, 146, 150, 255])],
      ['JSON but an array', cluster.topology.event('click', 0), '[1,2,3]'],
      [
        'click with an impossible ip and ts',
        cluster.topology.event('click', 0),
        JSON.stringify({ ...template, id: 'poison-nats-4', ts: 'yesterday', ip: 42 }),
      ],
      [
        'click missing its offer',
        cluster.topology.event('click', 0),
        JSON.stringify({ ...template, id: 'poison-nats-5', offerId: undefined }),
      ],
      [
        'conversion with a negative amount',
        cluster.topology.event('conversion', 0),
        JSON.stringify({ ...template, kind: 'conversion', id: 'poison-nats-6', amount: -1 }),
      ],
      ['click on a subject of no kind', `${cluster.topology.root}.events.bogus.0`, JSON.stringify({ ...template, id: 'poison-nats-7' })],
    ];
    const seqs = new Map<number, string>();
    for (const [name, subject, data] of poison) {
      const h = natsHeaders();
      h.set('Nats-Msg-Id', `poison:${name}`);
      const ack = await js.publish(subject, data, { headers: h });
      seqs.set(ack.seq, name);
    }
    const sender = new Sender(cluster.gateway);
    await sender.send(events.slice(200), { batch: 100 });
    for (const id of [...good.accepted.click]) sender.accepted.click.add(id);
    for (const id of [...good.accepted.conversion]) sender.accepted.conversion.add(id);
    sender.sent += good.sent;

    const row = await settleAndAccount(cluster, 'poison (14 kinds over HTTP ×2, 7 on NATS)', sender);
    reportExactlyOnce(row, { accepted: events.length, startedAt: started });

    // Nothing refused over HTTP, nor any poison from NATS, reached a table.
    const ids = [...impossible.map(([, , b]) => b.id as string), ...Array.from({ length: 7 }, (_, i) => `poison-nats-${i + 1}`)];
    const { rows } = await cluster.db.query(
      `SELECT id FROM clicks WHERE id = ANY($1) UNION ALL SELECT id FROM conversions WHERE id = ANY($1)
       UNION ALL SELECT click_id FROM click_verdicts WHERE click_id = ANY($1) UNION ALL SELECT conversion_id FROM decisions WHERE conversion_id = ANY($1)`,
      [ids],
    );
    expect(rows).toEqual([]);

    // Every poison message is on the dead-letter stream, from each consumer of the events it was
    // published to, with its error; the events subjects' consumers have nothing outstanding.
    const dead = await readStream(cluster.nc, cluster.topology.streams.dlq);
    const parked = dead.map((m) => ({
      poison: seqs.get(Number(m.headers?.get('Arbiter-Stream-Seq'))) ?? `seq ${m.headers?.get('Arbiter-Stream-Seq')}`,
      source: m.headers?.get('Arbiter-Source'),
      hasError: (m.headers?.get('Arbiter-Error') ?? '').length > 0,
    }));
    // Both consumers of EVENTS see each one: the recorder (events.>) and the scorer (events.*.0). An
    // array is a batch message (the gateway's minted events travel so): each of its items is parked alone.
    const expected = poison.flatMap(([name, , data]) =>
      ['recorder-events', 'scorer-p0'].flatMap((source) =>
        Array.from({ length: name === 'JSON but an array' ? JSON.parse(data as string).length : 1 }, () => ({
          poison: name,
          source,
          hasError: true,
        })),
      ),
    );
    const key = (p: { poison: string; source?: string }) => `${p.poison}/${p.source}`;
    expect([...parked].sort((a, b) => key(a).localeCompare(key(b)))).toEqual([...expected].sort((a, b) => key(a).localeCompare(key(b))));
    expect(await cluster.outstanding()).toBe(0);
    console.log(dead.map((m) => `${m.headers?.get('Arbiter-Source')}: ${m.headers?.get('Arbiter-Error')}`).join('\n'));
  });
});
