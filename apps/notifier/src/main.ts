import 'reflect-metadata';
import { loadConfig } from '@app/config';
import { startWorkerApp } from '@app/http';
import { rootLogger } from '@app/observability';
import { createNotifier } from './notifier.app';

async function main() {
  const config = loadConfig(process.env);
  rootLogger(config.LOG_LEVEL);
  const app = await createNotifier(config);
  app.enableShutdownHooks();
  await startWorkerApp(app, 'notifier', config.NOTIFIER_PORT, config.HOST);
}

main().catch((e) => {
  rootLogger().fatal({ err: e }, 'notifier failed to start');
  process.exit(1);
});
