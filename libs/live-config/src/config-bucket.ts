import { KV, KvEntry, Kvm } from '@nats-io/kv';
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

/**
 * Hands `apply` the key's current entry (null: none or deleted), then each later PUT, in order and
 * each once. The watch is opened before the read, so a PUT between the two is not lost; what the
 * read already covered (by revision) is skipped. Returns what stops following.
 */
export async function followKey(
  kv: KV,
  key: string,
  apply: (entry: KvEntry | null) => unknown,
  onEnd: (err: unknown) => void,
): Promise<() => void> {
  const watch = await kv.watch({ key, include: 'updates' });
  let seen = 0;
  try {
    const first = await kv.get(key);
    seen = first?.revision ?? 0;
    await apply(first && first.operation === 'PUT' ? first : null);
  } catch (err) {
    watch.stop();
    throw err;
  }
  void (async () => {
    for await (const e of watch) {
      if (e.revision <= seen) continue;
      seen = e.revision;
      if (e.operation === 'PUT') await apply(e);
    }
  })().catch(onEnd);
  return () => watch.stop();
}
