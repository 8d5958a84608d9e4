import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import type { ArbiterConfig } from '@app/config';
import { ConfigModule } from '@app/config';
import { EdgeErrorsFilter } from '@app/http';
import { MessagingModule, natsHealthCheck } from '@app/messaging';
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
        ...healthChecks(natsHealthCheck, databaseHealthCheck),
        { provide: APP_FILTER, useClass: EdgeErrorsFilter },
      ],
    };
  }
}
