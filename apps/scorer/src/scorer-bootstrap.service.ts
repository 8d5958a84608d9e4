import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { NatsConnection } from '@nats-io/nats-core';
import { ARBITER_CONFIG, ArbiterConfig, ownedPartitions } from '@app/config';
import { Topology } from '@app/contracts';
import { NATS_CONNECTION } from '@app/messaging';
import { componentLogger } from '@app/observability';
import { EMPTY_RULESET_CONFIG, RuleSetConfig } from '@app/rules';
import { ModelRegistry, ModelWatcher, RuleSetWatcher } from '@app/live-config';
import { ModelRepository, OutcomeRepository, RuleSetRepository } from '@app/storage';
import { HoldTimerService } from './hold-timer.service';
import { ScoringService } from './scoring.service';
import { StateRebuildService } from './state-rebuild.service';

/**
 * Everything a scorer does before it consumes, in order: follow the rule sets, replay recent
 * history into its windows, take over the open holds of its partitions, start the hold timer.
 */
@Injectable()
export class ScorerBootstrapService implements OnApplicationBootstrap, OnApplicationShutdown {
  private watcher?: RuleSetWatcher;
  private models?: ModelWatcher;
  private readonly log = componentLogger('scorer');

  constructor(
    @Inject(ARBITER_CONFIG) private readonly config: ArbiterConfig,
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    private readonly topology: Topology,
    private readonly scoring: ScoringService,
    private readonly rebuild: StateRebuildService,
    private readonly holdTimer: HoldTimerService,
    private readonly outcomes: OutcomeRepository,
    private readonly rulesets: RuleSetRepository,
    private readonly modelVersions: ModelRepository,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.watcher = new RuleSetWatcher(
      this.nc,
      this.topology,
      (resolver) => this.scoring.useRules(resolver),
      (shadow) => this.scoring.useShadow(shadow),
    );
    await this.watcher.start(async () => (await this.rulesets.latest<RuleSetConfig>())?.config ?? EMPTY_RULESET_CONFIG);
    const registry = new ModelRegistry(this.nc, this.topology, this.modelVersions);
    this.models = new ModelWatcher(this.nc, this.topology, registry, this.config.ARBITER_DEFAULT_MODEL, (active, shadow) =>
      this.scoring.useModels(active, shadow),
    );
    await this.models.start();
    await this.rebuild.rebuild();
    this.scoring.forgetReplayedOutcomes();
    // Holds re-created by the replay may have been settled since: the database knows.
    const holds = await this.outcomes.findOpenHolds(ownedPartitions(this.config));
    this.scoring.takeOverHolds(holds);
    this.log.info(
      {
        holds: holds.length,
        ruleSetVersion: this.watcher.current.network.version,
        model: this.scoring.activeModelVersion,
      },
      'ready to score',
    );
    this.holdTimer.start();
  }

  onApplicationShutdown(): void {
    this.watcher?.stop();
    this.models?.stop();
  }
}
