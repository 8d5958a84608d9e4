import { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { componentLogger } from '@app/observability';

/**
 * Connects to NATS and keeps reconnecting for as long as the process lives: while NATS is away,
 * publishes fail (the gateway answers 503) and consumers pause; JetStream keeps everything.
 */
export async function connectNats(url: string, name: string): Promise<NatsConnection> {
  const log = componentLogger('nats', { connection: name });
  const nc = await connect({
    servers: url.split(','),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    pingInterval: 10_000,
    // Otherwise every request (each acked JetStream publish, each pull) builds two Error objects up
    // front for their stack traces: 17% of the all-in-one engine's CPU under load, measured with
    // `arbiter bench --profile`. Errors still carry their message and cause.
    noAsyncTraces: true,
  });
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect' || s.type === 'reconnect' || s.type === 'error') log.warn({ status: s.type }, 'nats connection status');
    }
  })();
  return nc;
}

/** Drains (finishes pending publishes and subscriptions) and closes; never throws. */
export async function drainNats(nc: NatsConnection | undefined): Promise<void> {
  if (!nc || nc.isClosed()) return;
  try {
    await nc.drain();
  } catch {
    await nc.close().catch(() => undefined);
  }
}
