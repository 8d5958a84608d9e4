import { Client } from 'pg';
import { jetstream } from '@nats-io/jetstream';
import { CHROME_UA, createTestDatabase, eventually, uid } from '@app/testing';
import { dlqCommand } from '../../apps/cli/src/commands/dlq.command';
import { ADMIN_KEY, TestEngine, bootEngine, postJson } from './support/engine';
import { Tenant, call, freshIp, seedTenant } from './support/tenants';

/**
 * Only poison is dead-lettered, and every dead letter can be seen and replayed (issue 12): the
 * engine runs as a database role whose INSERT privilege on `decisions` is taken away mid-traffic.
 * Nothing is dead-lettered, /health says degraded and why, and giving the privilege back drains
 * the backlog with nothing lost. A message that breaks its contract is dead-lettered, listed by
 * `arbiter dlq list` and the admin API, and replayed (audited) to the consumer that parked it.
 */
describe('dead letters: a database fault keeps the messages; poison is listed and replayed', () => {
  let t: TestEngine;
  let tenant: Tenant;
  let superuser: Client;
  const role = `arbiter_${uid('r')
    .replace(/[^a-z0-9_]/gi, '')
    .toLowerCase()}`.slice(0, 40);
  let database: Awaited<ReturnType<typeof createTestDatabase>>;

  beforeAll(async () => {
    database = await createTestDatabase();
    superuser = new Client({ connectionString: database.url });
    await superuser.connect();
    // The engine's own role: it owns what it migrates, and an owner's privileges can be revoked.
    await superuser.query(`CREATE ROLE ${role} LOGIN`);
    await superuser.query(`GRANT ALL ON DATABASE ${database.name} TO ${role}`);
    await superuser.query(`GRANT ALL ON SCHEMA public TO ${role}`);
    const url = new URL(database.url);
    url.username = role;
    t = await bootEngine({ config: { DATABASE_URL: url.toString() } });
    tenant = await seedTenant(t, 'dlq');
  });

  afterAll(async () => {
    await t?.stop();
    await superuser?.end();
    await database?.drop();
    const c = new Client({ connectionString: database.url.replace(`/${database.name}`, '/postgres') });
    await c.connect();
    await c.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
    await c.end();
  });

  async function conversions(n: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const click = await postJson(`${t.gateway}/v1/clicks`, {
        offerId: tenant.offerId,
        publisherId: tenant.publisherId,
        ip: freshIp(),
        userAgent: CHROME_UA,
        ts: new Date(Date.now() - 600_000).toISOString(),
      });
      expect(click.status).toBe(202);
      const conversion = await postJson(`${t.gateway}/v1/conversions`, { clickId: click.body.id, amount: 40 });
      expect(conversion.status).toBe(202);
      ids.push(conversion.body.id);
    }
    return ids;
  }

  const stored = async (ids: string[]) =>
    (await t.db.query(`SELECT count(*)::int AS n FROM decisions WHERE conversion_id = ANY($1)`, [ids])).rows[0].n as number;
  const health = async () => (await call(t.api, 'GET', '/health')).body;
  const deadLetters = async (query = '') => (await call(t.api, 'GET', `/v1/admin/dead-letters${query}`, ADMIN_KEY)).body;

  async function cli(...args: string[]): Promise<string> {
    let out = '';
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out += String(chunk);
      return true;
    });
    try {
      await dlqCommand()
        .exitOverride()
        .parseAsync(['node', 'dlq', ...args, '--api', t.api, '--key', ADMIN_KEY]);
    } finally {
      write.mockRestore();
    }
    return out;
  }

  it('keeps every message while the database refuses the writes, says why, and drains once it is fixed', async () => {
    const before = await conversions(2);
    await eventually(
      () => stored(before),
      (n) => n === 2,
    );

    await superuser.query(`REVOKE INSERT, UPDATE ON decisions FROM ${role}`);
    const during = await conversions(5);
    const degraded = await eventually(health, (h) =>
      (h.degraded ?? []).some((d: { component: string }) => d.component === 'consumer recorder-verdicts'),
    );
    expect(degraded.status).toBe('degraded');
    expect(degraded.degraded.find((d: { component: string }) => d.component === 'consumer recorder-verdicts')).toMatchObject({
      cause: 'database',
      reason: 'database 42501 insufficient_privilege',
      error: expect.stringMatching(/permission denied/),
    });
    const metrics = await (await fetch(`${t.api}/metrics`)).text();
    expect(metrics).toMatch(/arbiter_consumer_degraded\{consumer="recorder-verdicts"\} 1/);
    expect(metrics).toMatch(/arbiter_consumer_failures_total\{consumer="recorder-verdicts",cause="database"\} [1-9]/);
    expect(await stored(during)).toBe(0);
    expect((await deadLetters()).items).toEqual([]);

    await superuser.query(`GRANT INSERT, UPDATE ON decisions TO ${role}`);
    await eventually(
      () => stored(during),
      (n) => n === 5,
      60_000,
    );
    await eventually(health, (h) => h.status === 'up');
    expect((await deadLetters()).items).toEqual([]);
  });

  it('dead-letters a verdict that breaks its contract, lists it, and replays it to its own consumer (audited, once)', async () => {
    const js = jetstream(t.nc);
    const eventId = uid('bad');
    await js.publish(t.topology.verdict('conversion'), JSON.stringify({ conversionId: eventId, score: 'high' }), { msgID: eventId });
    const listed = await eventually(
      () => deadLetters('?consumer=recorder-verdicts'),
      (b) => b.items.length === 1,
    );
    const letter = listed.items[0];
    expect(letter).toMatchObject({
      stream: 'DLQ',
      consumer: 'recorder-verdicts',
      subject: t.topology.verdict('conversion'),
      eventId,
      errorType: 'PoisonMessageError',
      error: expect.stringMatching(/contract violation/),
      replays: 0,
    });

    const table = await cli('list', '--consumer', 'recorder-verdicts');
    expect(table).toContain(letter.id);
    expect(table).toMatch(/recorder-verdicts.*contract violation/);
    const json = JSON.parse(await cli('list', '--json'));
    // The notifier consumes the same subject and parked its own copy.
    expect(json.items.map((l: { consumer: string }) => l.consumer).sort()).toEqual(['notifier-decisions', 'recorder-verdicts']);

    const first = await call(t.api, 'POST', '/v1/admin/dead-letters/replay', ADMIN_KEY, { ids: [letter.id] });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ replayed: 1, byConsumer: { 'recorder-verdicts': 1 }, deadLetters: [letter.id], missing: [] });
    // Still poison: the consumer that parked it (and only that one) parks it again, counted as replayed once.
    const again = await eventually(
      () => deadLetters('?consumer=recorder-verdicts'),
      (b) => b.items.length === 1 && b.items[0].id !== letter.id,
    );
    expect(again.items[0]).toMatchObject({ eventId, replays: 1, sourceSeq: letter.sourceSeq });
    expect((await deadLetters('?consumer=notifier-decisions')).items).toHaveLength(1);

    // The same dead letter twice: nothing happens the second time.
    const second = await call(t.api, 'POST', '/v1/admin/dead-letters/replay', ADMIN_KEY, { ids: [letter.id] });
    expect(second.body).toMatchObject({ replayed: 0, missing: [letter.id] });

    const out = await cli('replay', '--consumer', 'notifier-decisions');
    expect(out).toMatch(/replayed 1 \(notifier-decisions 1\); audit /);

    const audit = (await call(t.api, 'GET', '/v1/admin/dead-letters/replays', ADMIN_KEY)).body.items;
    expect(audit).toHaveLength(3);
    expect(audit[2]).toMatchObject({ replayed: 1, deadLetters: [letter.id], filter: { ids: [letter.id] } });
    expect(audit[1]).toMatchObject({ replayed: 0, missing: [letter.id] });
    expect(audit[0]).toMatchObject({ replayed: 1, byConsumer: { 'notifier-decisions': 1 } });
    expect(new Set(audit.map((a: { actor: string }) => a.actor)).size).toBe(1);
  });

  it('refuses a replay without criteria', async () => {
    const res = await call(t.api, 'POST', '/v1/admin/dead-letters/replay', ADMIN_KEY, {});
    expect(res.status).toBe(400);
  });
});
