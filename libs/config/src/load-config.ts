import { Value } from '@sinclair/typebox/value';
import { ArbiterConfig, ConfigSchema } from './config.schema';

/** Raised at boot when the environment does not describe a runnable engine. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

const known = new Set(Object.keys(ConfigSchema.properties));

/**
 * Reads and validates configuration from an environment map (normally `process.env`), applying
 * defaults and converting strings to numbers and booleans. Throws `ConfigError` listing every problem.
 */
export function loadConfig(env: Record<string, string | undefined>, overrides: Partial<ArbiterConfig> = {}): ArbiterConfig {
  const picked: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(env)) {
    if (known.has(key) && value !== undefined && value !== '') picked[key] = value;
  }
  Object.assign(picked, overrides);
  const converted = Value.Convert(ConfigSchema, Value.Default(ConfigSchema, picked));
  if (!Value.Check(ConfigSchema, converted)) {
    const problems = [...Value.Errors(ConfigSchema, converted)].map(
      (e) => `${e.path.replace(/^\//, '') || '(root)'}: ${e.message} (got ${JSON.stringify(e.value)})`,
    );
    throw new ConfigError(problems);
  }
  return converted as ArbiterConfig;
}

/** The scorer partitions this process owns, as numbers. */
export function ownedPartitions(config: ArbiterConfig): number[] {
  const all = Array.from({ length: config.ARBITER_PARTITIONS }, (_, p) => p);
  if (config.SCORER_PARTITIONS === 'all') return all;
  const owned = config.SCORER_PARTITIONS.split(',').map(Number);
  const outside = owned.filter((p) => p >= config.ARBITER_PARTITIONS);
  if (outside.length) {
    throw new ConfigError([`SCORER_PARTITIONS: ${outside.join(',')} not below ARBITER_PARTITIONS=${config.ARBITER_PARTITIONS}`]);
  }
  return owned;
}

/**
 * GATEWAY_TRUST_PROXY / API_TRUST_PROXY as Fastify takes it: false (the peer is the client), a
 * number of trusted hops, or the trusted proxies' addresses and ranges.
 */
export function trustProxySetting(value: string): false | number | string {
  const v = value.trim();
  if (v === '' || v === 'false') return false;
  if (/^[0-9]+$/.test(v)) return Number(v) || false;
  return v;
}
