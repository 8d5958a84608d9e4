import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import type { ArbiterConfig } from '@app/config';
import { ConfigModule } from '@app/config';
import { ApiKeyGuard } from '@app/auth';
import { CatalogModule } from '@app/catalog';
import { EdgeErrorsFilter } from '@app/http';
import { MessagingModule, natsHealthCheck } from '@app/messaging';
import { HealthController, healthChecks } from '@app/observability';
import { StorageModule, databaseHealthCheck } from '@app/storage';
import { AdminKeySeeder } from './admin-key.seeder';
import { ApiKeysController } from './admin/api-keys.controller';
import { CatalogController } from './admin/catalog.controller';
import { RuleSetsController } from './admin/rulesets.controller';
import { ModelsController } from './admin/models.controller';
import { RuleSetStore } from '@app/settings';
import { DecisionsController } from './decisions.controller';

/** REST for admins, advertisers and publishers. */
@Module({})
export class ApiModule {
  static forRoot(config: ArbiterConfig): DynamicModule {
    return {
      module: ApiModule,
      imports: [ConfigModule.forRoot(config), MessagingModule.forRoot('api'), StorageModule.forRoot('arbiter-api'), CatalogModule],
      controllers: [CatalogController, ApiKeysController, RuleSetsController, ModelsController, DecisionsController, HealthController],
      providers: [
        ApiKeyGuard,
        AdminKeySeeder,
        RuleSetStore,
        ...healthChecks(natsHealthCheck, databaseHealthCheck),
        { provide: APP_FILTER, useClass: EdgeErrorsFilter },
      ],
    };
  }
}
