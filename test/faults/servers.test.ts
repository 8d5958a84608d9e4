import { Client } from 'pg';
import { eventually } from '@app/testing';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { NatsCluster, NatsServer, PostgresServer, stopAll } from './support/servers';

afterAll(stopAll);

/** The fault tests' own servers do what the tests rely on: restarts keep data, a cluster survives a lost node. */
test('a restarted nats-server keeps its file-stored stream', async () => {
  const s = await NatsServer.single();
  let nc = await connect({ servers: s.url });
  let jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'X', subjects: ['x.>'] });
  await jsm.jetstream().publish('x.1', 'a');
  await nc.close();
  await s.restart();
  nc = await connect({ servers: s.url });
  jsm = await jetstreamManager(nc);
  expect((await jsm.streams.info('X')).state.messages).toBe(1);
  await nc.close();
});

test('an R3 stream in the three-node cluster takes writes with one node killed, and the node catches up', async () => {
  const c = await NatsCluster.start();
  const nc = await connect({ servers: c.urls });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'pfxY', subjects: ['y.>'], num_replicas: 3 });
  await c.replicasCurrent('pfx', 3);
  await jsm.jetstream().publish('y.1', 'a');
  const leader = (await jsm.streams.info('pfxY')).cluster?.leader;
  const victim = c.nodes.find((n) => n.name === leader)!;
  await victim.crash();
  // Writes resume once the two survivors have elected a new leader.
  await eventually(
    () =>
      jsm
        .jetstream()
        .publish('y.2', 'a', { msgID: 'y.2' })
        .then(
          () => true,
          () => false,
        ),
    Boolean,
    30_000,
    500,
  );
  expect((await jsm.streams.info('pfxY')).state.messages).toBe(2);
  await victim.start({ jetstream: false });
  await c.replicasCurrent('pfx', 3);
  await nc.close();
});

test('its own PostgreSQL refuses connections while stopped and keeps its data across a restart', async () => {
  const pg = await PostgresServer.create();
  const url = await pg.createDatabase('abc');
  let c = new Client({ connectionString: url });
  await c.connect();
  await c.query('create table t(x int)');
  await c.query('insert into t values (1)');
  await c.end();
  await pg.stop();
  c = new Client({ connectionString: url });
  await expect(c.connect()).rejects.toThrow();
  await pg.start();
  c = new Client({ connectionString: url });
  await c.connect();
  expect((await c.query('select * from t')).rows).toEqual([{ x: 1 }]);
  await c.end();
});
