import { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { ArbiterConfig } from '@app/config';
import { createWorkerApp } from '@app/worker';
import { RecorderModule } from './recorder.module';

export function createRecorder(config: ArbiterConfig): Promise<NestFastifyApplication> {
  return createWorkerApp(RecorderModule.forRoot(config), config);
}
