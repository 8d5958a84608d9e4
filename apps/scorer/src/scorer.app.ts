import { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { ArbiterConfig } from '@app/config';
import { createWorkerApp } from '@app/worker';
import { ScorerModule } from './scorer.module';

export function createScorer(config: ArbiterConfig): Promise<NestFastifyApplication> {
  return createWorkerApp(ScorerModule.forRoot(config), config);
}
