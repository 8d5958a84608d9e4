import { parentPort, workerData } from 'node:worker_threads';
import { rootLogger } from '@app/observability';
import { EmbeddedWorkerData, EmbeddedWorkerReply, RunningStatement, serveEmbedded } from './embedded-database';

/**
 * The embedded database's own thread (see `EmbeddedDatabase`): serves PGlite on a loopback port,
 * says so, answers the engine's pings, reports requests it gave up on, and on 'stop' closes the server and the database (flushing it to its data directory).
 */
const data = workerData as EmbeddedWorkerData;
const port = parentPort!;
rootLogger(data.logLevel);
const say = (m: EmbeddedWorkerReply) => port.postMessage(m);
// The first bytes of the request PGlite runs, readable by the engine while PGlite keeps this thread.
const running = new RunningStatement(data.running);

serveEmbedded({
  dataDir: data.dataDir,
  port: data.port,
  answerLimitMs: data.answerLimitMs,
  onUnanswered: (request) => say({ type: 'unanswered', request }),
  onRunning: (what) => running.write(what),
}).then(
  (served) => {
    port.on('message', (m) => {
      // The engine's heartbeat (see `Heartbeat`): answered at once, unless PGlite keeps this thread.
      if (typeof m === 'object' && m?.type === 'ping') return say({ type: 'pong' });
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
