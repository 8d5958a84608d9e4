import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { Pool } from 'pg';
import type { ArbiterConfig } from '@app/config';
import { Topology } from '@app/contracts';
import { TEST_NATS_URL, createTestDatabase, deleteNamespace, eventually, testNamespace } from '@app/testing';
import { Engine, EngineOptions, startEngine } from '../../../apps/cli/src/commands/start.command';

export const ADMIN_KEY = 'e2e-admin-key-0123456789abcdef';

export interface TestEngine {
  engine: Engine;
  gateway: string;
  api: string;
  namespace: string;
  topology: Topology;
  /** Direct database access for assertions. */
  db: Pool;
  /** A separate NATS connection for subscriptions and direct publishes. */
  nc: NatsConnection;
  /** Calls the admin API. */
  admin(path: string, body: unknown): Promise<Response>;
  /** Resolves when every durable consumer has handled everything on its stream. */
  drained(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Boots the whole engine in this process, isolated: its own NATS namespace and (unless embedded)
 * its own database on the local PostgreSQL; random ports.
 */
/** `natsUrl`: a NATS server of the test's own (default: the shared one). */
export async function bootEngine(
  options: { embedded?: boolean; config?: Partial<ArbiterConfig>; natsUrl?: string; engine?: EngineOptions } = {},
): Promise<TestEngine> {
  const natsUrl = options.natsUrl ?? TEST_NATS_URL;
  const namespace = testNamespace();
  const database = options.embedded ? undefined : await createTestDatabase();
  const dataDir = mkdtempSync(join(tmpdir(), 'arbiter-e2e-'));
  const engine = await startEngine(
    {},
    {
      ARBITER_NAMESPACE: namespace,
      DATABASE_URL: database?.url,
      NATS_URL: natsUrl,
      NATS_SPAWN: 'never',
      HOST: '127.0.0.1',
      GATEWAY_PORT: 0,
      API_PORT: 0,
      ARBITER_DATA_DIR: dataDir,
      ARBITER_ADMIN_KEY: ADMIN_KEY,
      LOG_LEVEL: (process.env.TEST_LOG_LEVEL as ArbiterConfig['LOG_LEVEL']) ?? 'silent',
      EVENTS_MAX_BYTES: 64 * 1024 ** 2,
      // Rules only unless a test activates a model: outcomes stay exactly predictable.
      ARBITER_DEFAULT_MODEL: '',
      // Test receivers listen on 127.0.0.1 (test/e2e/api-protection.test.ts checks the default refusal).
      WEBHOOK_ALLOW_PRIVATE_NETWORKS: true,
      ...options.config,
    },
    options.engine,
  );
  const db = new Pool({ connectionString: engine.config.DATABASE_URL, max: 2 });
  const nc = await connect({ servers: natsUrl });
  const topology = new Topology(namespace, engine.config.ARBITER_PARTITIONS);
  const gateway = `http://127.0.0.1:${engine.gatewayPort}`;
  const api = `http://127.0.0.1:${engine.apiPort}`;
  return {
    engine,
    gateway,
    api,
    namespace,
    topology,
    db,
    nc,
    admin: (path, body) =>
      fetch(`${api}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }),
    drained: async () => {
      const jsm = await jetstreamManager(nc);
      await eventually(
        async () => {
          let outstanding = 0;
          for (const stream of [topology.streams.events, topology.streams.verdicts]) {
            for await (const c of jsm.consumers.list(stream)) outstanding += c.num_pending + c.num_ack_pending;
          }
          return outstanding;
        },
        (n) => n === 0,
      );
    },
    stop: async () => {
      await db.end();
      await nc.close();
      await engine.stop();
      await deleteNamespace(namespace, natsUrl);
      await database?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Seeds one advertiser, offer and publisher; returns their ids. */
export async function seedCatalog(t: TestEngine, suffix: string, offer: Record<string, unknown> = {}) {
  const ids = { advertiserId: `adv-${suffix}`, offerId: `off-${suffix}`, publisherId: `pub-${suffix}` };
  for (const [path, body] of [
    ['/v1/admin/advertisers', { id: ids.advertiserId, name: 'Shop' }],
    [
      '/v1/admin/offers',
      {
        id: ids.offerId,
        advertiserId: ids.advertiserId,
        name: 'Shoes',
        payout: 4.5,
        url: 'https://shop.example/land?cid={click_id}',
        ...offer,
      },
    ],
    ['/v1/admin/publishers', { id: ids.publisherId, name: 'Blog' }],
  ] as const) {
    const res = await t.admin(path, body);
    if (res.status !== 201) throw new Error(`seeding ${path}: ${res.status} ${await res.text()}`);
  }
  return ids;
}

/**
 * POSTs JSON. Ingest (`/v1/clicks`, `/v1/conversions`) is sent with the admin key unless the
 * caller gives its own `authorization` (or `anonymous: true`): most tests drive traffic as a
 * backfill would; the trust tests (ingest-trust.test.ts) send as partners do.
 */
export async function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
  options: { anonymous?: boolean } = {},
): Promise<{ status: number; body: any }> {
  const ingest = /\/v1\/(clicks|conversions)$/.test(new URL(url).pathname);
  const auth: Record<string, string> =
    ingest && !options.anonymous && !Object.keys(headers).some((h) => h.toLowerCase() === 'authorization')
      ? { authorization: `Bearer ${ADMIN_KEY}` }
      : {};
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...auth, ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}
