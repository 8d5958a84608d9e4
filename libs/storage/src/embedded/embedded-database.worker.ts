import { parentPort, workerData } from 'node:worker_threads';
import { rootLogger } from '@app/observability';
import { EmbeddedWorkerData, EmbeddedWorkerReply, serveEmbedded } from './embedded-database';

/**
 * The embedded database's own thread (see `EmbeddedDatabase`): serves PGlite on a loopback port,
 * says so, and on 'stop' closes the server and the database (flushing it to its data directory).
 */
const data = workerData as EmbeddedWorkerData;
const port = parentPort!;
rootLogger(data.logLevel);
const say = (m: EmbeddedWorkerReply) => port.postMessage(m);

serveEmbedded({ dataDir: data.dataDir, port: data.port, checkpoints: data.checkpoints }).then(
  (served) => {
    port.on('message', (m) => {
      if (m !== 'stop') return;
      served.stop().then(
        () => {
          say({ type: 'stopped' });
          port.close();
        },
        (e: Error) => say({ type: 'failed', message: e.message }),
      );
    });
    say({ type: 'ready', port: served.port });
  },
  (e: Error) => say({ type: 'failed', message: e.stack ?? e.message }),
);
