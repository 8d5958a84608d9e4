import 'reflect-metadata';
import { runService } from '@app/http';
import { startWorkerApp } from '@app/worker';
import { createScorer } from './scorer.app';

runService('scorer', async (config) => {
  const app = await createScorer(config);
  app.enableShutdownHooks();
  await startWorkerApp(app, 'scorer', config.SCORER_PORT, config.HOST);
});
