import 'reflect-metadata';
import { loadConfig } from '@app/config';
import { listen } from '@app/http';
import { rootLogger } from '@app/observability';
import { createGateway } from './gateway.app';

async function main() {
  const config = loadConfig(process.env);
  rootLogger(config.LOG_LEVEL);
  const app = await createGateway(config);
  app.enableShutdownHooks();
  await listen(app, 'gateway', config.GATEWAY_PORT, config.HOST);
}

main().catch((e) => {
  rootLogger().fatal({ err: e }, 'gateway failed to start');
  process.exit(1);
});
