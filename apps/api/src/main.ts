import 'reflect-metadata';
import { listen, runService } from '@app/http';
import { createApi } from './api.app';

runService('api', async (config) => {
  const app = await createApi(config);
  app.enableShutdownHooks();
  await listen(app, 'api', config.API_PORT, config.HOST);
});
