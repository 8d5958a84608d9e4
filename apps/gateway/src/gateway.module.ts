import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import type { ArbiterConfig } from '@app/config';
import { ConfigModule } from '@app/config';
import { KeyRateLimitGuard, rateLimitModule } from '@app/auth';
import { CatalogModule } from '@app/catalog';
import { MessagingModule, natsHealthCheck } from '@app/messaging';
import { HealthController, healthChecks } from '@app/observability';
import { StorageModule, databaseHealthCheck } from '@app/storage';
import { FeedbackModule } from '@app/feedback';
import { EdgeErrorsFilter } from '@app/http';
import { IngestModule } from '@app/ingest';

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
        IngestModule,
        FeedbackModule,
        // Feedback has the API's budgets; ingest has its own (IngestLimiter); health and metrics none.
        rateLimitModule({ perKey: config.API_RATE_LIMIT_PER_MINUTE, perIp: config.API_RATE_LIMIT_PER_IP_PER_MINUTE }),
      ],
      controllers: [HealthController],
      providers: [
        ...healthChecks(natsHealthCheck, databaseHealthCheck),
        { provide: APP_GUARD, useClass: KeyRateLimitGuard },
        { provide: APP_FILTER, useClass: EdgeErrorsFilter },
      ],
    };
  }
}
