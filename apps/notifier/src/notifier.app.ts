import { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { ArbiterConfig } from '@app/config';
import { createWorkerApp } from '@app/worker';
import { NotifierModule } from './notifier.module';

export function createNotifier(config: ArbiterConfig): Promise<NestFastifyApplication> {
  return createWorkerApp(NotifierModule.forRoot(config), config);
}
