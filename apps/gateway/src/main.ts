import 'reflect-metadata';
import { listen, runService } from '@app/http';
import { createGateway } from './gateway.app';

runService('gateway', async (config) => {
  const app = await createGateway(config);
  app.enableShutdownHooks();
  await listen(app, 'gateway', config.GATEWAY_PORT, config.HOST);
});
