import { DynamicModule, Global, Inject, Injectable, Module, OnApplicationShutdown, Provider } from '@nestjs/common';
import type { Pool } from 'pg';
import { ARBITER_CONFIG, ArbiterConfig } from '@app/config';
import { createPool } from './database';
import { migrate } from './migrator';
import { ApiKeyRepository } from './repositories/api-key.repository';
import { CatalogRepository } from './repositories/catalog.repository';
import { EventRepository } from './repositories/event.repository';
import { EventHistoryRepository } from './repositories/history.repository';
import { BacktestJobRepository } from './repositories/backtest-job.repository';
import { ShadowOutcomeRepository } from './repositories/shadow-outcome.repository';
import { RuleQualityRepository } from './repositories/rule-quality.repository';
import { OutcomeRepository } from './repositories/outcome.repository';
import { ClickRepository } from './repositories/click.repository';
import { RuleSetRepository } from './repositories/ruleset.repository';
import { ModelRepository } from './repositories/model.repository';
import { QueryRepository } from './repositories/query.repository';
import { ReviewRepository } from './repositories/review.repository';
import { WebhookRepository } from './repositories/webhook.repository';
import { PostbackRepository } from './repositories/postback.repository';
import { DeadLetterReplayRepository } from './repositories/dead-letter-replay.repository';
import { EnforcementRepository } from './repositories/enforcement.repository';
import { DeploymentSecretRepository } from './repositories/deployment-secret.repository';

export const DATABASE_POOL = Symbol('DATABASE_POOL');
/** The deployment's distinct-count secret (`DeploymentSecretRepository.distinctHash`), read once at start. */
export const DISTINCT_SECRET = Symbol('DISTINCT_SECRET');

/**
 * `DISTINCT_SECRET`, for the services that count distinct values (the scorer, the API's
 * backtests) to list among their providers: the others (gateway, recorder, notifier) never load it.
 */
export const distinctSecretProvider: Provider = {
  provide: DISTINCT_SECRET,
  inject: [DeploymentSecretRepository],
  useFactory: (secrets: DeploymentSecretRepository) => secrets.distinctHash(),
};

@Injectable()
class PoolLifecycle implements OnApplicationShutdown {
  constructor(@Inject(DATABASE_POOL) private readonly pool: Pool) {}
  async onApplicationShutdown(): Promise<void> {
    await this.pool.end();
  }
}

/** One connection pool per service and the repositories on it. */
@Global()
@Module({})
export class StorageModule {
  static forRoot(applicationName: string): DynamicModule {
    const repositories = [
      EventRepository,
      EventHistoryRepository,
      BacktestJobRepository,
      ShadowOutcomeRepository,
      RuleQualityRepository,
      OutcomeRepository,
      ClickRepository,
      CatalogRepository,
      ApiKeyRepository,
      RuleSetRepository,
      ModelRepository,
      QueryRepository,
      ReviewRepository,
      WebhookRepository,
      PostbackRepository,
      DeadLetterReplayRepository,
      EnforcementRepository,
      DeploymentSecretRepository,
    ].map((R) => ({
      provide: R,
      inject: [DATABASE_POOL],
      useFactory: (pool: Pool) => new R(pool),
    }));
    return {
      module: StorageModule,
      providers: [
        {
          provide: DATABASE_POOL,
          inject: [ARBITER_CONFIG],
          // Every service brings the schema up to date before it uses it (idempotent, under a lock).
          useFactory: async (config: ArbiterConfig) => {
            if (!config.DATABASE_URL) throw new Error('DATABASE_URL is not set (the all-in-one `arbiter start` provides an embedded one)');
            const pool = createPool({ url: config.DATABASE_URL, max: config.DATABASE_POOL_SIZE, applicationName });
            await migrate(pool);
            return pool;
          },
        },
        ...repositories,
        PoolLifecycle,
      ],
      exports: [DATABASE_POOL, ...repositories.map((r) => r.provide)],
    };
  }
}

/** Health check: the database answers a query. */
export const databaseHealthCheck = {
  provide: 'DATABASE_HEALTH',
  inject: [DATABASE_POOL],
  useFactory: (pool: Pool) => ({
    name: 'database',
    check: async () => {
      await pool.query('SELECT 1');
    },
  }),
};
