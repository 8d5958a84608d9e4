import type { NatsConnection } from '@nats-io/nats-core';
import type { Topology } from '@app/contracts';
import { componentLogger } from '@app/observability';
import { EMPTY_RULESET_CONFIG, RuleSetConfig, RuleSetResolver, validateConfig } from '@app/rules';
import { ConfigKey, followKey, openConfigBucket } from './config-bucket';
import type { ShadowRuleSet } from './ruleset.store';

/** A shadow candidate as a scorer runs it. */
export interface ActiveShadow {
  label: string;
  resolver: RuleSetResolver;
}

/**
 * The scorer side of rule sets: reads the active configuration from the KV bucket and follows
 * every change, handing each valid one to `onChange`. An invalid document is logged and ignored
 * (the scorer keeps the rules it has rather than scoring with none). With `onShadow`, it follows
 * the shadow candidate too (null: none).
 */
export class RuleSetWatcher {
  private readonly stops: (() => void)[] = [];
  private readonly log = componentLogger('ruleset-watcher');
  current: RuleSetResolver = new RuleSetResolver(EMPTY_RULESET_CONFIG);
  private shadow: ShadowRuleSet | null = null;

  constructor(
    private readonly nc: NatsConnection,
    private readonly topology: Topology,
    private readonly onChange: (resolver: RuleSetResolver) => void,
    private readonly onShadow?: (shadow: ActiveShadow | null) => void,
  ) {}

  /** Loads the current configuration (or `fallback` when the bucket has none) and starts following. */
  async start(fallback: () => Promise<RuleSetConfig>): Promise<void> {
    const kv = await openConfigBucket(this.nc, this.topology);
    const ended = (key: string) => (err: unknown) => this.log.error({ err, key }, 'rule-set watch ended');
    this.stops.push(
      await followKey(
        kv,
        ConfigKey.RuleSets,
        async (entry) => this.apply(entry ? (entry.length ? entry.json() : null) : await fallback()),
        ended(ConfigKey.RuleSets),
      ),
    );
    if (this.onShadow) {
      this.stops.push(
        await followKey(
          kv,
          ConfigKey.ShadowRuleSet,
          (entry) => this.applyShadow(entry && entry.length ? entry.json() : null),
          ended(ConfigKey.ShadowRuleSet),
        ),
      );
    }
  }

  stop(): void {
    for (const stop of this.stops) stop();
  }

  private apply(document: unknown): void {
    try {
      const config = validateConfig(document);
      if (config.version < this.current.config.version) return;
      const blocksBefore = JSON.stringify(this.current.config.blocks ?? []);
      this.current = new RuleSetResolver(config);
      this.onChange(this.current);
      this.log.info({ version: config.version }, 'rule sets active');
      // A running shadow judges with the network's blocks as they are now (see shadowConfig).
      if (this.shadow && this.onShadow && JSON.stringify(config.blocks ?? []) !== blocksBefore) this.applyShadow(this.shadow);
    } catch (e) {
      this.log.error({ err: e }, 'ignoring an invalid rule-set configuration');
    }
  }

  private applyShadow(document: unknown): void {
    if (document === null) {
      this.shadow = null;
      this.onShadow!(null);
      this.log.info('no shadow rule set');
      return;
    }
    try {
      const shadow = document as ShadowRuleSet;
      const resolver = new RuleSetResolver(validateConfig(shadowConfig(shadow.config, this.current.config)));
      this.shadow = shadow;
      this.onShadow!({ label: String(shadow.label), resolver });
      this.log.info({ shadow: shadow.label }, 'shadow rule set running');
    } catch (e) {
      // An unreadable shadow stops shadowing; the active rules are untouched either way.
      this.shadow = null;
      this.onShadow!(null);
      this.log.error({ err: e }, 'ignoring an invalid shadow rule set');
    }
  }
}

/**
 * A shadow candidate's configuration as it judges live traffic: its own layers, with the active
 * configuration's enforcement blocks. Blocks are the network's current state (made and lifted while
 * the shadow runs), not part of the candidate: with the blocks of the day it started, every block made
 * since would read as a disagreement.
 */
export function shadowConfig(candidate: RuleSetConfig, active: RuleSetConfig): RuleSetConfig {
  const { blocks: _stale, ...layers } = candidate;
  return active.blocks ? { ...layers, blocks: active.blocks } : layers;
}
