import 'reflect-metadata';
import { loadConfig } from '@app/config';
import { startWorkerApp } from '@app/http';
import { rootLogger } from '@app/observability';
import { createRecorder } from './recorder.app';

async function main() {
  const config = loadConfig(process.env);
  rootLogger(config.LOG_LEVEL);
  const app = await createRecorder(config);
  app.enableShutdownHooks();
  await startWorkerApp(app, 'recorder', config.RECORDER_PORT, config.HOST);
}

main().catch((e) => {
  rootLogger().fatal({ err: e }, 'recorder failed to start');
  process.exit(1);
});
