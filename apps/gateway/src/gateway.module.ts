import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import type { ArbiterConfig } from '@app/config';
import { ConfigModule } from '@app/config';
import { ApiKeyGuard } from '@app/auth';
import { CatalogModule } from '@app/catalog';
import { MessagingModule, natsHealthCheck } from '@app/messaging';
import { HealthController, healthChecks } from '@app/observability';
import { StorageModule, databaseHealthCheck } from '@app/storage';
import { FeedbackModule } from '@app/feedback';
import { EdgeErrorsFilter } from '@app/http';
import { IngestController } from './ingest.controller';
import { IngestService } from './ingest.service';
import { TrackingController } from './tracking.controller';

/** HTTP ingest: validate, complete and store events on JetStream. */
@Module({})
export class GatewayModule {
  static forRoot(config: ArbiterConfig): DynamicModule {
    return {
      module: GatewayModule,
      imports: [
        ConfigModule.forRoot(config),
        MessagingModule.forRoot('gateway'),
        StorageModule.forRoot('arbiter-gateway'),
        CatalogModule,
        FeedbackModule,
      ],
      controllers: [IngestController, TrackingController, HealthController],
      providers: [
        IngestService,
        ApiKeyGuard,
        ...healthChecks(natsHealthCheck, databaseHealthCheck),
        { provide: APP_FILTER, useClass: EdgeErrorsFilter },
      ],
    };
  }
}
