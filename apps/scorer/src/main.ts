import 'reflect-metadata';
import { startWorkerApp, runService } from '@app/http';
import { createScorer } from './scorer.app';

runService('scorer', async (config) => {
  const app = await createScorer(config);
  app.enableShutdownHooks();
  await startWorkerApp(app, 'scorer', config.SCORER_PORT, config.HOST);
});
