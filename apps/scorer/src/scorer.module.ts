import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import type { ArbiterConfig } from '@app/config';
import { ConfigModule } from '@app/config';
import { CatalogModule } from '@app/catalog';
import { EdgeErrorsFilter } from '@app/http';
import { MessagingModule, natsHealthCheck } from '@app/messaging';
import { HealthController, healthChecks } from '@app/observability';
import { StorageModule, databaseHealthCheck, distinctSecretProvider } from '@app/storage';
import { ScoringConsumer } from './scoring.consumer';
import { ScoringService } from './scoring.service';
import { RecorderProgress } from './recorder-progress';
import { RedeliveryResolver } from './redelivery.resolver';
import { StateRebuildService } from './state-rebuild.service';
import { HoldTimerService } from './hold-timer.service';
import { ScorerBootstrapService } from './scorer-bootstrap.service';

/** Scores every event: features, rules, decision policy. */
@Module({})
export class ScorerModule {
  static forRoot(config: ArbiterConfig): DynamicModule {
    return {
      module: ScorerModule,
      imports: [ConfigModule.forRoot(config), MessagingModule.forRoot('scorer'), StorageModule.forRoot('arbiter-scorer'), CatalogModule],
      controllers: [ScoringConsumer, HealthController],
      providers: [
        distinctSecretProvider,
        ScoringService,
        RecorderProgress,
        RedeliveryResolver,
        StateRebuildService,
        HoldTimerService,
        ScorerBootstrapService,
        ...healthChecks(natsHealthCheck, databaseHealthCheck),
        { provide: APP_FILTER, useClass: EdgeErrorsFilter },
      ],
    };
  }
}
