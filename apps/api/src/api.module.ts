import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import type { ArbiterConfig } from '@app/config';
import { ConfigModule } from '@app/config';
import { ApiKeyGuard, KeyRateLimitGuard, rateLimitModule } from '@app/auth';
import { CatalogModule } from '@app/catalog';
import { FeedbackModule } from '@app/feedback';
import { EdgeErrorsFilter } from '@app/http';
import { MessagingModule, natsHealthCheck } from '@app/messaging';
import { HealthController, healthChecks } from '@app/observability';
import { StorageModule, databaseHealthCheck } from '@app/storage';
import { AdminKeySeeder } from './admin-key.seeder';
import { ApiKeysController } from './admin/api-keys.controller';
import { CatalogController } from './admin/catalog.controller';
import { RuleSetsController } from './admin/rulesets.controller';
import { BacktestController } from './admin/backtest.controller';
import { ShadowController } from './admin/shadow.controller';
import { ShadowService } from './admin/shadow.service';
import { RuleSetsService } from './admin/rulesets.service';
import { ACTIVE_MODEL, BacktestService } from './admin/backtest.service';
import { ModelsController } from './admin/models.controller';
import { ModelsService } from './admin/models.service';
import { ReviewService } from './review/review.service';
import { StatsService } from './stats.service';
import { WebhooksService } from './advertiser/webhooks.service';
import { ApiKeysService } from './admin/api-keys.service';
import { CatalogService } from './admin/catalog.service';
import { EnforcementController } from './admin/enforcement.controller';
import { EnforcementJob, EnforcementService } from '@app/enforcement';
import { ApiModelLoader, ModelRegistry, RuleSetStore } from '@app/live-config';
import { Backtester } from '@app/backtest';
import { CatalogCache } from '@app/catalog';
import { Topology } from '@app/contracts';
import { NATS_CONNECTION } from '@app/messaging';
import { ClickRepository, DISTINCT_SECRET, EventHistoryRepository, ModelRepository, distinctSecretProvider } from '@app/storage';
import type { NatsConnection } from '@nats-io/nats-core';
import { DecisionsController } from './decisions.controller';
import { OperationsController } from './admin/operations.controller';
import { DeadLettersController } from './admin/dead-letters.controller';
import { DeadLettersService } from './admin/dead-letters.service';
import { AdvertiserController } from './advertiser/advertiser.controller';
import { PublisherController } from './publisher/publisher.controller';
import { ReviewController } from './review/review.controller';
import { PublisherPostbacksController } from './postbacks/publisher-postbacks.controller';
import { AdminWebhooksController } from './postbacks/admin-webhooks.controller';
import { PostbacksService } from './postbacks/postbacks.service';
import { KpiRepository } from '@app/kpi';
import { DATABASE_POOL } from '@app/storage';
import type { Pool } from 'pg';

/** REST for admins, advertisers and publishers. */
@Module({})
export class ApiModule {
  static forRoot(config: ArbiterConfig): DynamicModule {
    return {
      module: ApiModule,
      imports: [
        ConfigModule.forRoot(config),
        MessagingModule.forRoot('api'),
        StorageModule.forRoot('arbiter-api'),
        CatalogModule,
        FeedbackModule,
        rateLimitModule({ perKey: config.API_RATE_LIMIT_PER_MINUTE, perIp: config.API_RATE_LIMIT_PER_IP_PER_MINUTE }),
      ],
      controllers: [
        CatalogController,
        ApiKeysController,
        RuleSetsController,
        BacktestController,
        ShadowController,
        ModelsController,
        EnforcementController,
        OperationsController,
        DeadLettersController,
        PublisherController,
        PublisherPostbacksController,
        AdminWebhooksController,
        AdvertiserController,
        ReviewController,
        DecisionsController,
        HealthController,
      ],
      providers: [
        ApiKeyGuard,
        AdminKeySeeder,
        RuleSetStore,
        BacktestService,
        ShadowService,
        RuleSetsService,
        DeadLettersService,
        ModelsService,
        ReviewService,
        StatsService,
        WebhooksService,
        ApiKeysService,
        CatalogService,
        {
          provide: ModelRegistry,
          inject: [NATS_CONNECTION, Topology, ModelRepository],
          useFactory: (nc: NatsConnection, topology: Topology, models: ModelRepository) => new ModelRegistry(nc, topology, models),
        },
        PostbacksService,
        EnforcementService,
        EnforcementJob,
        distinctSecretProvider,
        {
          provide: Backtester,
          inject: [EventHistoryRepository, ClickRepository, CatalogCache, DISTINCT_SECRET],
          // Counts distinct values with the deployment's secret, as its scorers do: a backtest reproduces their decisions.
          useFactory: (history: EventHistoryRepository, clicks: ClickRepository, catalog: CatalogCache, distinctSecret: string) =>
            new Backtester(history, clicks, catalog, distinctSecret),
        },
        {
          provide: ApiModelLoader,
          inject: [ModelRegistry],
          // Retries a failed load in the background, so the failing state clears once the model loads again.
          useFactory: (registry: ModelRegistry) => new ApiModelLoader(registry, config.ARBITER_DEFAULT_MODEL),
        },
        { provide: ACTIVE_MODEL, inject: [ApiModelLoader], useFactory: (loader: ApiModelLoader) => () => loader.load() },
        { provide: KpiRepository, inject: [DATABASE_POOL], useFactory: (pool: Pool) => new KpiRepository(pool) },
        ...healthChecks(natsHealthCheck, databaseHealthCheck),
        { provide: APP_GUARD, useClass: KeyRateLimitGuard },
        { provide: APP_FILTER, useClass: EdgeErrorsFilter },
      ],
    };
  }
}
