import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { JetStreamManager } from '@nats-io/jetstream';
import { ARBITER_CONFIG, ArbiterConfig, ConfigModule } from '@app/config';
import { Topology } from '@app/contracts';
import { EdgeErrorsFilter } from '@app/http';
import { JETSTREAM_MANAGER, MessagingModule, StreamTrimmer, natsHealthCheck } from '@app/messaging';
import { HealthController, healthChecks } from '@app/observability';
import { StorageModule, databaseHealthCheck } from '@app/storage';
import { EventsConsumer } from './events.consumer';
import { LedgerPrunerService } from './ledger-pruner.service';
import { RollupRefresherService } from './rollup-refresher.service';
import { VerdictsConsumer } from './verdicts.consumer';

/** Writes events, verdicts and decisions to the database in idempotent batches. */
@Module({})
export class RecorderModule {
  static forRoot(config: ArbiterConfig): DynamicModule {
    return {
      module: RecorderModule,
      imports: [ConfigModule.forRoot(config), MessagingModule.forRoot('recorder'), StorageModule.forRoot('arbiter-recorder')],
      controllers: [EventsConsumer, VerdictsConsumer, HealthController],
      providers: [
        LedgerPrunerService,
        RollupRefresherService,
        // In every recorder, so in both shapes (`arbiter start` runs one): EVENTS and VERDICTS refuse
        // publishes when full, and this purges what every durable has acknowledged before they are.
        {
          provide: StreamTrimmer,
          inject: [JETSTREAM_MANAGER, Topology, ARBITER_CONFIG],
          useFactory: (jsm: JetStreamManager, topology: Topology, config: ArbiterConfig) => new StreamTrimmer(jsm, topology, config),
        },
        ...healthChecks(natsHealthCheck, databaseHealthCheck),
        { provide: APP_FILTER, useClass: EdgeErrorsFilter },
      ],
    };
  }
}
