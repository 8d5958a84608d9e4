import 'reflect-metadata';
import { loadConfig } from '@app/config';
import { startWorkerApp } from '@app/http';
import { rootLogger } from '@app/observability';
import { createScorer } from './scorer.app';

async function main() {
  const config = loadConfig(process.env);
  rootLogger(config.LOG_LEVEL);
  const app = await createScorer(config);
  app.enableShutdownHooks();
  await startWorkerApp(app, 'scorer', config.SCORER_PORT, config.HOST);
}

main().catch((e) => {
  rootLogger().fatal({ err: e }, 'scorer failed to start');
  process.exit(1);
});
