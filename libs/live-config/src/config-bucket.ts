import { KV, Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Topology } from '@app/contracts';

/** Keys of the `arbiter-config` bucket. */
export const ConfigKey = {
  RuleSets: 'rulesets',
  /** A candidate rule set the scorers run beside the active one (JSON `null`: none). */
  ShadowRuleSet: 'rulesets-shadow',
  Model: 'model',
} as const;

/** Opens (creating if needed) the configuration KV bucket. */
export function openConfigBucket(nc: NatsConnection, topology: Topology): Promise<KV> {
  return new Kvm(nc).create(topology.configBucket, { history: 10 });
}
