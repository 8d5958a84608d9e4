import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import type { ArbiterConfig } from '@app/config';
import { CatalogModule } from '@app/catalog';
import { ConfigModule } from '@app/config';
import { EdgeErrorsFilter } from '@app/http';
import { MessagingModule, natsHealthCheck } from '@app/messaging';
import { HealthController, healthChecks } from '@app/observability';
import { StorageModule, databaseHealthCheck } from '@app/storage';
import { DecisionFanoutService } from './decision-fanout.service';
import { DecisionsConsumer } from './decisions.consumer';
import { WebhookDeliveryConsumer } from './webhook-delivery.consumer';
import { DeliveryTargetService } from './delivery-target.service';
import { PostbackDirectory } from './postback-directory.service';

/** Delivers decisions to advertisers (webhooks) and publishers (partner postbacks). */
@Module({})
export class NotifierModule {
  static forRoot(config: ArbiterConfig): DynamicModule {
    return {
      module: NotifierModule,
      imports: [
        ConfigModule.forRoot(config),
        MessagingModule.forRoot('notifier'),
        StorageModule.forRoot('arbiter-notifier'),
        CatalogModule,
      ],
      controllers: [DecisionsConsumer, WebhookDeliveryConsumer, HealthController],
      providers: [
        DecisionFanoutService,
        DeliveryTargetService,
        PostbackDirectory,
        ...healthChecks(natsHealthCheck, databaseHealthCheck),
        { provide: APP_FILTER, useClass: EdgeErrorsFilter },
      ],
    };
  }
}
