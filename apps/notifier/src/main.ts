import 'reflect-metadata';
import { startWorkerApp, runService } from '@app/http';
import { createNotifier } from './notifier.app';

runService('notifier', async (config) => {
  const app = await createNotifier(config);
  app.enableShutdownHooks();
  await startWorkerApp(app, 'notifier', config.NOTIFIER_PORT, config.HOST);
});
