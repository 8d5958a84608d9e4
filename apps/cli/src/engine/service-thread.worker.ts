import { parentPort, workerData } from 'node:worker_threads';
import { startWorkerApp } from '@app/worker';
import { degradations, ownThreadMetrics, rootLogger } from '@app/observability';
import { createConsumerService } from './consumer-services';
import type { ServiceThreadData, ServiceThreadReply, ServiceThreadRequest } from './service-thread';

/**
 * One consumer service of `arbiter start` on its own thread (see `ServiceThread`): creates its Nest
 * application from the engine's configuration, starts it, says so; answers the main thread's
 * metrics requests, hands it every change of its degraded components, and on 'stop' closes the
 * application (its consumers drain, then its NATS connection and database pool go).
 */
const data = workerData as ServiceThreadData;
const port = parentPort!;
rootLogger(data.config.LOG_LEVEL);
const say = (m: ServiceThreadReply) => port.postMessage(m);

degradations.watch((list) => say({ type: 'degraded', list }));

createConsumerService(data.name, data.config)
  .then(async (app) => {
    try {
      await startWorkerApp(app, data.name, 0, data.config.HOST);
    } catch (e) {
      await app.close().catch(() => undefined);
      throw e;
    }
    port.on('message', (m: ServiceThreadRequest) => {
      if (m.type === 'metrics') {
        ownThreadMetrics().then(
          (metrics) => say({ type: 'metrics', id: m.id, metrics }),
          () => say({ type: 'metrics', id: m.id, metrics: [] }),
        );
      } else if (m.type === 'stop') {
        app.close().then(
          () => say({ type: 'stopped' }),
          (e: Error) => say({ type: 'failed', message: e.stack ?? e.message }),
        );
      }
    });
    say({ type: 'ready' });
  })
  .catch((e: Error) => say({ type: 'failed', message: e.stack ?? e.message }));
