import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { resolve } from 'node:path';
import { componentLogger } from '@app/observability';

/** True when something accepts TCP connections at host:port. */
export function listening(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((done) => {
    const socket = netConnect({ host, port });
    const finish = (ok: boolean) => {
      socket.destroy();
      done(ok);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}

/**
 * Embedded mode: when nothing listens at NATS_URL and `nats-server` is on PATH, start one with
 * JetStream and its store under the data directory. Returns the child to stop at shutdown.
 */
export async function ensureNats(url: string, dataDir: string, spawnAllowed: boolean): Promise<ChildProcess | null> {
  const first = new URL(url.split(',')[0]);
  const host = first.hostname || '127.0.0.1';
  const port = Number(first.port || 4222);
  if (await listening(host, port)) return null;
  const log = componentLogger('embedded-nats');
  const onPath = spawnSync('nats-server', ['--version'], { stdio: 'ignore' }).status === 0;
  if (!spawnAllowed || !onPath || !['127.0.0.1', 'localhost'].includes(host)) {
    throw new Error(
      `nothing answers at NATS_URL=${url}` +
        (onPath ? '' : ' and no nats-server is on PATH') +
        '. Start NATS with JetStream (nats-server -js) or point NATS_URL at one.',
    );
  }
  const store = resolve(dataDir, 'nats');
  mkdirSync(store, { recursive: true });
  const child = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', store], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`nats-server exited with code ${child.exitCode}`);
    if (await listening('127.0.0.1', port, 200)) {
      log.info({ port, store }, 'started nats-server with JetStream');
      return child;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error('nats-server did not start within 10 s');
}
