import { Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import type { NatsConnection } from '@nats-io/nats-core';
import { Topology } from '@app/contracts';
import { NATS_CONNECTION } from '@app/messaging';
import { componentLogger } from '@app/observability';
import { EMPTY_RULESET_CONFIG, RuleSetConfig, RuleSetLayer, validateConfig, validateLayer } from '@app/rules';
import { RuleSetRepository, StoredRuleSetVersion } from '@app/storage';
import { ConfigKey, openConfigBucket } from './config-bucket';

export type RuleSetScope = { kind: 'network' } | { kind: 'advertiser'; id: string } | { kind: 'offer'; id: string };

/**
 * The admin side of rule sets: every change is validated, stored as a new version in the
 * database (the record of truth and the audit trail) and then put in the KV bucket, where every
 * running scorer picks it up without restart.
 */
@Injectable()
export class RuleSetStore implements OnApplicationBootstrap {
  private readonly log = componentLogger('rulesets');

  constructor(
    private readonly repository: RuleSetRepository,
    private readonly topology: Topology,
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
  ) {}

  /** If a change was stored but not distributed (NATS was away), distribute it now. */
  async onApplicationBootstrap(): Promise<void> {
    const latest = await this.repository.latest<RuleSetConfig>();
    if (!latest) return;
    const kv = await openConfigBucket(this.nc, this.topology);
    const entry = await kv.get(ConfigKey.RuleSets);
    const distributed = entry && entry.operation === 'PUT' ? (entry.json<RuleSetConfig>().version ?? -1) : -1;
    if (distributed < latest.version) {
      await kv.put(ConfigKey.RuleSets, JSON.stringify(latest.config));
      this.log.info({ version: latest.version }, 'rule sets redistributed');
    }
  }

  async current(): Promise<RuleSetConfig> {
    return (await this.repository.latest<RuleSetConfig>())?.config ?? EMPTY_RULESET_CONFIG;
  }

  history(limit = 50): Promise<StoredRuleSetVersion<RuleSetConfig>[]> {
    return this.repository.history<RuleSetConfig>(limit);
  }

  /** Replaces one layer (null removes it); returns the new configuration. Throws RuleSetError. */
  async change(scope: RuleSetScope, layer: unknown | null, actor: string | null): Promise<RuleSetConfig> {
    const valid = layer === null ? null : validateLayer(layer);
    const label = scope.kind === 'network' ? 'network' : `${scope.kind}:${scope.id}`;
    const next = await this.repository.append<RuleSetConfig>(EMPTY_RULESET_CONFIG, label, actor, (current) =>
      validateConfig({ ...withLayer(current, scope, valid), updatedAt: new Date().toISOString(), updatedBy: actor ?? undefined }),
    );
    const kv = await openConfigBucket(this.nc, this.topology);
    await kv.put(ConfigKey.RuleSets, JSON.stringify(next));
    this.log.info({ version: next.version, scope: label, actor }, 'rule sets changed');
    return next;
  }
}

function withLayer(config: RuleSetConfig, scope: RuleSetScope, layer: RuleSetLayer | null): RuleSetConfig {
  if (scope.kind === 'network') return { ...config, network: layer ?? {} };
  const key = scope.kind === 'advertiser' ? 'advertisers' : 'offers';
  const layers = { ...config[key] };
  if (layer) layers[scope.id] = layer;
  else delete layers[scope.id];
  return { ...config, [key]: layers };
}
