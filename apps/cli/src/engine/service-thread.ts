import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { ArbiterConfig } from '@app/config';
import { Degradation, MetricsJson, componentLogger, degradations, threadMetrics } from '@app/observability';
import { startWorkerApp } from '@app/worker';
import { ConsumerService, createConsumerService } from './consumer-services';

/** What a service's thread is told, asked, and answers. */
export interface ServiceThreadData {
  name: ConsumerService;
  config: ArbiterConfig;
}
export type ServiceThreadRequest = { type: 'metrics'; id: number } | { type: 'stop' };
export type ServiceThreadReply =
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { type: 'stopped' }
  | { type: 'metrics'; id: number; metrics: MetricsJson }
  | { type: 'degraded'; list: Degradation[] };

/** A consumer service the engine runs, on the calling thread or on its own. */
export interface RunningService {
  readonly name: ConsumerService;
  /** Whether it runs in a worker thread of its own. */
  readonly threaded: boolean;
  /** Closes it: its consumers drain what they hold, then its NATS connection and database pool go. */
  stop(): Promise<void>;
}

/**
 * The compiled script of a service's thread, next to this module in `dist/`; null from TypeScript
 * sources (the test runner), where there is none to run: the services then share the calling thread,
 * as the embedded database does (`EmbeddedDatabase`).
 */
export function serviceThreadScript(): string | null {
  const script = join(__dirname, 'service-thread.worker.js');
  return existsSync(script) ? script : null;
}

const STOP_TIMEOUT_MS = 60_000;
const METRICS_TIMEOUT_MS = 2_000;

/**
 * Starts one consumer service. With a `script`, in a worker thread of its own: the thread creates
 * the service's Nest application from `config` and connects to NATS and the database as a service
 * in its own process does, so the scorer's and recorder's work no longer waits behind the gateway's
 * on one event loop. Its metrics are merged into the main thread's `GET /metrics` and its degraded
 * components into `GET /health` (the gateway's and the API's, as before). A thread that ends on its
 * own once started (an uncaught error) is reported to `onFailure`. Without a script, on this thread.
 */
export async function startService(
  name: ConsumerService,
  config: ArbiterConfig,
  options: { script: string | null; onFailure(error: Error): void },
): Promise<RunningService> {
  if (!options.script) {
    const app = await createConsumerService(name, config);
    try {
      await startWorkerApp(app, name, 0, config.HOST);
    } catch (e) {
      await app.close().catch(() => undefined);
      throw e;
    }
    return { name, threaded: false, stop: () => app.close() };
  }
  return startInThread(name, config, options.script, options.onFailure);
}

async function startInThread(
  name: ConsumerService,
  config: ArbiterConfig,
  script: string,
  onFailure: (error: Error) => void,
): Promise<RunningService> {
  const log = componentLogger('engine', { service: name });
  const source = `${name} thread`;
  const worker = new Worker(script, { workerData: { name, config } satisfies ServiceThreadData, name: `arbiter ${name}` });
  let lastError: Error | undefined;
  let stopping = false;
  // Lifecycle replies go to whoever waits for one; metrics replies to their request.
  let lifecycle: ((reply: ServiceThreadReply | null) => void) | undefined;
  const metricsWaiting = new Map<number, (metrics: MetricsJson) => void>();
  worker.on('message', (m: ServiceThreadReply) => {
    if (m.type === 'degraded') degradations.mirror(source, m.list);
    else if (m.type === 'metrics') metricsWaiting.get(m.id)?.(m.metrics);
    else lifecycle?.(m);
  });
  worker.on('error', (e) => {
    lastError = e;
  });
  let ended = false;
  const exited = new Promise<number>((done) =>
    worker.once('exit', (code) => {
      ended = true;
      lifecycle?.(null);
      done(code);
    }),
  );
  const next = () => new Promise<ServiceThreadReply | null>((done) => (lifecycle = done));
  const why = () => (lastError ? `: ${lastError.stack ?? lastError.message}` : '');

  const first = await next();
  if (first?.type !== 'ready') {
    await worker.terminate();
    const reason = first?.type === 'failed' ? `: ${first.message}` : ` (its thread exited${why()})`;
    throw new Error(`the ${name} did not start${reason}`);
  }

  let requests = 0;
  const readMetrics = () =>
    new Promise<MetricsJson>((done) => {
      const id = ++requests;
      const timer = setTimeout(() => answer([]), METRICS_TIMEOUT_MS).unref();
      const answer = (metrics: MetricsJson) => {
        clearTimeout(timer);
        metricsWaiting.delete(id);
        done(metrics);
      };
      metricsWaiting.set(id, answer);
      worker.postMessage({ type: 'metrics', id } satisfies ServiceThreadRequest);
    });
  threadMetrics.set(source, readMetrics);
  const forget = () => {
    if (threadMetrics.get(source) === readMetrics) threadMetrics.delete(source);
    degradations.mirror(source, []);
  };
  void exited.then((code) => {
    if (stopping) return;
    forget();
    const error = new Error(`the ${name}'s thread ended on its own (exit code ${code})${why()}`);
    log.error({ err: lastError ?? error }, `the ${name}'s thread ended: the engine no longer does its work`);
    onFailure(error);
  });

  return {
    name,
    threaded: true,
    stop: async () => {
      if (stopping) return exited.then(() => undefined);
      stopping = true;
      // Ended on its own (reported to onFailure then): nothing left to drain or to wait for.
      if (ended) return forget();
      const reply = next();
      worker.postMessage({ type: 'stop' } satisfies ServiceThreadRequest);
      let timer: NodeJS.Timeout | undefined;
      const answer = await Promise.race([
        reply,
        // A thread that dies while stopping answers nothing more.
        exited.then(() => null),
        new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), STOP_TIMEOUT_MS))),
      ]);
      clearTimeout(timer);
      await worker.terminate();
      await exited;
      forget();
      if (answer === 'timeout') throw new Error(`the ${name} did not stop within ${STOP_TIMEOUT_MS / 1000} s; its thread was terminated`);
      if (answer?.type === 'failed') throw new Error(`the ${name} did not close cleanly: ${answer.message}`);
      if (answer?.type !== 'stopped') throw new Error(`the ${name}'s thread exited while stopping${why()}`);
    },
  };
}
