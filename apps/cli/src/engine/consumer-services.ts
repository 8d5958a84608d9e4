import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { ArbiterConfig } from '@app/config';
import { createNotifier } from '../../../notifier/src/notifier.app';
import { createRecorder } from '../../../recorder/src/recorder.app';
import { createScorer } from '../../../scorer/src/scorer.app';

/** The engine's consumer services (no HTTP port of their own inside `arbiter start`), in start order. */
export const CONSUMER_SERVICES = { recorder: createRecorder, notifier: createNotifier, scorer: createScorer } as const;
export type ConsumerService = keyof typeof CONSUMER_SERVICES;

/** Creates the service's Nest application from the engine's resolved configuration. */
export function createConsumerService(name: ConsumerService, config: ArbiterConfig): Promise<NestFastifyApplication> {
  return CONSUMER_SERVICES[name](config);
}
