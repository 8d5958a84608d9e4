import { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { ArbiterConfig } from '@app/config';
import { createHttpApp } from '@app/http';
import { ApiModule } from './api.module';

export function createApi(config: ArbiterConfig): Promise<NestFastifyApplication> {
  return createHttpApp(ApiModule.forRoot(config));
}
