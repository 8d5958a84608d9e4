import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Topology } from '@app/contracts';
import { componentLogger } from '@app/observability';
import { EMPTY_RULESET_CONFIG, RuleSetConfig, RuleSetResolver, validateConfig } from '@app/rules';
import { ConfigKey, openConfigBucket } from './config-bucket';

/**
 * The scorer side of rule sets: reads the active configuration from the KV bucket and follows
 * every change, handing each valid one to `onChange`. An invalid document is logged and ignored
 * (the scorer keeps the rules it has rather than scoring with none).
 */
export class RuleSetWatcher {
  private kv?: KV;
  private stopWatching?: () => void;
  private readonly log = componentLogger('ruleset-watcher');
  current: RuleSetResolver = new RuleSetResolver(EMPTY_RULESET_CONFIG);

  constructor(
    private readonly nc: NatsConnection,
    private readonly topology: Topology,
    private readonly onChange: (resolver: RuleSetResolver) => void,
  ) {}

  /** Loads the current configuration (or `fallback` when the bucket has none) and starts following. */
  async start(fallback: () => Promise<RuleSetConfig>): Promise<void> {
    this.kv = await openConfigBucket(this.nc, this.topology);
    const entry = await this.kv.get(ConfigKey.RuleSets);
    this.apply(entry && entry.operation === 'PUT' ? entry.json() : await fallback());
    const watch = await this.kv.watch({ key: ConfigKey.RuleSets, include: 'updates' });
    this.stopWatching = () => watch.stop();
    void (async () => {
      for await (const e of watch) if (e.operation === 'PUT') this.apply(e.json());
    })().catch((err) => this.log.error({ err }, 'rule-set watch ended'));
  }

  stop(): void {
    this.stopWatching?.();
  }

  private apply(document: unknown): void {
    try {
      const config = validateConfig(document);
      if (config.version < this.current.config.version) return;
      this.current = new RuleSetResolver(config);
      this.onChange(this.current);
      this.log.info({ version: config.version }, 'rule sets active');
    } catch (e) {
      this.log.error({ err: e }, 'ignoring an invalid rule-set configuration');
    }
  }
}
