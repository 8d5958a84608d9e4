import 'reflect-metadata';
import { runService } from '@app/http';
import { startWorkerApp } from '@app/worker';
import { createNotifier } from './notifier.app';

runService('notifier', async (config) => {
  const app = await createNotifier(config);
  app.enableShutdownHooks();
  await startWorkerApp(app, 'notifier', config.NOTIFIER_PORT, config.HOST);
});
