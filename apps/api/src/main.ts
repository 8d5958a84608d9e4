import 'reflect-metadata';
import { loadConfig } from '@app/config';
import { listen } from '@app/http';
import { rootLogger } from '@app/observability';
import { createApi } from './api.app';

async function main() {
  const config = loadConfig(process.env);
  rootLogger(config.LOG_LEVEL);
  const app = await createApi(config);
  app.enableShutdownHooks();
  await listen(app, 'api', config.API_PORT, config.HOST);
}

main().catch((e) => {
  rootLogger().fatal({ err: e }, 'api failed to start');
  process.exit(1);
});
