import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { ArbiterConfig, trustProxySetting } from '@app/config';
import { createHttpApp } from '@app/http';
import { ApiModule } from './api.module';
import { serveOpenApi } from './openapi';

/** The api application with its OpenAPI document (`/openapi.json`) and Swagger UI (`/docs`); not listening yet. */
export async function createApi(config: ArbiterConfig): Promise<NestFastifyApplication> {
  const app = await createHttpApp(ApiModule.forRoot(config), { trustProxy: trustProxySetting(config.API_TRUST_PROXY) });
  await serveOpenApi(app, config);
  return app;
}
