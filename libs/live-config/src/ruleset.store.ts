import { randomBytes } from 'node:crypto';
import { Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import type { NatsConnection } from '@nats-io/nats-core';
import { Topology } from '@app/contracts';
import { NATS_CONNECTION } from '@app/messaging';
import { componentLogger } from '@app/observability';
import { EMPTY_RULESET_CONFIG, RuleSetConfig, RuleSetLayer, validateConfig, validateLayer } from '@app/rules';
import { RuleSetRepository, StoredRuleSetVersion } from '@app/storage';
import { ConfigKey, openConfigBucket } from './config-bucket';
import { RuleSetChange, diffRuleSets } from './ruleset-diff';

export type RuleSetScope = { kind: 'network' } | { kind: 'advertiser'; id: string } | { kind: 'offer'; id: string };

/** A rule set to try: a whole configuration, or one layer replaced in the active one. */
export type CandidateSpec = { config: unknown } | { scope: RuleSetScope; layer: unknown | null };

/** A candidate running on live traffic beside the active rule set: scored and recorded, never deciding. */
export interface ShadowRuleSet {
  /** `shadow-<id>`: how its outcomes are labelled. */
  label: string;
  /** The active version it was built on. */
  basedOn: number;
  config: RuleSetConfig;
  diff: RuleSetChange[];
  setAt: string;
  setBy: string | null;
}

export interface RuleSetHistoryEntry {
  version: number;
  scope: string;
  /** An admin's key (id and label), or the part of the engine that made the change (`system`). */
  changedBy: { keyId: string | null; label: string | null; system?: Record<string, unknown> };
  createdAt: string;
  diff: RuleSetChange[];
}

const changedBy = (row: StoredRuleSetVersion<unknown>): RuleSetHistoryEntry['changedBy'] => ({
  keyId: row.changedBy,
  label: row.changedByLabel,
  ...(row.changedBySystem ? { system: row.changedBySystem } : {}),
});

/** The active rule set changed after the shadow was built on it: promoting would silently undo that change. */
export class StaleShadowError extends Error {
  constructor(
    readonly basedOn: number,
    readonly active: number,
  ) {
    super(`the shadow was built on version ${basedOn}, the active version is now ${active}: start the shadow again on the current rules`);
    this.name = 'StaleShadowError';
  }
}

export class NoShadowError extends Error {
  constructor() {
    super('no shadow rule set is running');
    this.name = 'NoShadowError';
  }
}

/** Reads a `network`, `advertiser:ID` or `offer:ID` scope. */
export function parseScope(text: string): RuleSetScope | null {
  if (text === 'network') return { kind: 'network' };
  const m = /^(advertiser|offer):([A-Za-z0-9_-]{1,64})$/.exec(text);
  return m ? { kind: m[1] as 'advertiser' | 'offer', id: m[2] } : null;
}

export function scopeLabel(scope: RuleSetScope): string {
  return scope.kind === 'network' ? 'network' : `${scope.kind}:${scope.id}`;
}

/**
 * The admin side of rule sets: every change is validated, stored as a new version in the
 * database (the record of truth and the audit trail, with its diff and who made it) and then put
 * in the KV bucket, where every running scorer picks it up without restart. A shadow candidate
 * lives in the bucket too, until it is promoted or withdrawn.
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

  /** Versions newest first, each with what changed from the one before and who changed it. */
  async history(limit = 50, before?: number): Promise<RuleSetHistoryEntry[]> {
    // One more than asked: the oldest shown needs its predecessor for a diff it did not store.
    const rows = await this.repository.history<RuleSetConfig>(limit + 1, before);
    return rows.slice(0, limit).map((row, i) => ({
      version: row.version,
      scope: row.scope,
      changedBy: changedBy(row),
      createdAt: row.createdAt,
      diff: (row.diff as RuleSetChange[] | null) ?? diffRuleSets(rows[i + 1]?.config ?? EMPTY_RULESET_CONFIG, row.config),
    }));
  }

  /** One version with its full configuration and its diff. */
  async version(version: number): Promise<(RuleSetHistoryEntry & { config: RuleSetConfig }) | null> {
    const row = await this.repository.find<RuleSetConfig>(version);
    if (!row) return null;
    const previous = version > 1 ? await this.repository.find<RuleSetConfig>(version - 1) : null;
    return {
      version: row.version,
      scope: row.scope,
      changedBy: changedBy(row),
      createdAt: row.createdAt,
      diff: (row.diff as RuleSetChange[] | null) ?? diffRuleSets(previous?.config ?? EMPTY_RULESET_CONFIG, row.config),
      config: row.config,
    };
  }

  /** Replaces one layer (null removes it); returns the new configuration. Throws RuleSetError. */
  async change(scope: RuleSetScope, layer: unknown | null, actor: string | null): Promise<RuleSetConfig> {
    const valid = layer === null ? null : validateLayer(layer);
    return this.commit(scopeLabel(scope), actor, (current) => withLayer(current, scope, valid));
  }

  /**
   * The configuration a candidate would make, validated, numbered as the next version (nothing is
   * stored). Throws RuleSetError.
   */
  async candidate(spec: CandidateSpec): Promise<{ config: RuleSetConfig; active: RuleSetConfig; diff: RuleSetChange[] }> {
    const active = await this.current();
    const built =
      'config' in spec
        ? (spec.config as Record<string, unknown>)
        : withLayer(active, spec.scope, spec.layer === null ? null : validateLayer(spec.layer));
    // Enforcement blocks are the network's current state, not part of a candidate's rules.
    const config = validateConfig({ ...EMPTY_RULESET_CONFIG, ...built, blocks: active.blocks, version: active.version + 1 });
    if (!config.blocks) delete config.blocks;
    return { config, active, diff: diffRuleSets(active, config) };
  }

  async shadow(): Promise<ShadowRuleSet | null> {
    const entry = await (await openConfigBucket(this.nc, this.topology)).get(ConfigKey.ShadowRuleSet);
    if (!entry || entry.operation !== 'PUT' || entry.length === 0) return null;
    return entry.json<ShadowRuleSet | null>();
  }

  /** Starts (or replaces) the shadow candidate on every scorer. Throws RuleSetError. */
  async setShadow(spec: CandidateSpec, actor: string | null): Promise<ShadowRuleSet> {
    const { config, active, diff } = await this.candidate(spec);
    const shadow: ShadowRuleSet = {
      label: `shadow-${randomBytes(4).toString('hex')}`,
      basedOn: active.version,
      config,
      diff,
      setAt: new Date().toISOString(),
      setBy: actor,
    };
    await (await openConfigBucket(this.nc, this.topology)).put(ConfigKey.ShadowRuleSet, JSON.stringify(shadow));
    this.log.info({ shadow: shadow.label, basedOn: active.version, changes: diff.length, actor }, 'shadow rule set started');
    return shadow;
  }

  async clearShadow(actor: string | null): Promise<void> {
    await (await openConfigBucket(this.nc, this.topology)).put(ConfigKey.ShadowRuleSet, 'null');
    this.log.info({ actor }, 'shadow rule set withdrawn');
  }

  /**
   * Makes the shadow candidate the active configuration (a new version, audited like any change)
   * and stops shadowing. Refused (StaleShadowError) when the active rules changed since the shadow was
   * built on them: its layers would overwrite that change.
   */
  async promoteShadow(actor: string | null): Promise<{ config: RuleSetConfig; promoted: string }> {
    const shadow = await this.shadow();
    if (!shadow) throw new NoShadowError();
    // Blocks made or lifted since the shadow started stay as they are now.
    const { version: _v, updatedAt: _u, updatedBy: _b, blocks: _blocks, ...layers } = shadow.config;
    const config = await this.commit(`promote:${shadow.label}`, actor, (current) => {
      if (current.version !== shadow.basedOn) throw new StaleShadowError(shadow.basedOn, current.version);
      return { ...current, ...layers };
    });
    await this.clearShadow(actor);
    return { config, promoted: shadow.label };
  }

  /**
   * A change the engine makes itself (enforcement blocks): `change` sees the latest configuration
   * under the rule-set lock and returns the next one, or null when there is nothing to do (no version
   * is written). `system` names what made it in the audit (`{ system: 'enforcement', … }`).
   */
  async systemChange(
    scope: string,
    system: () => Record<string, unknown> & { system: string },
    change: (current: RuleSetConfig) => RuleSetConfig | null,
  ): Promise<RuleSetConfig> {
    return this.commit(scope, null, change, system);
  }

  /** A change an admin makes that is not a layer (lifting a block): like `systemChange`, audited with their key. */
  async adminChange(scope: string, actor: string | null, change: (current: RuleSetConfig) => RuleSetConfig | null): Promise<RuleSetConfig> {
    return this.commit(scope, actor, change);
  }

  private async commit(
    scope: string,
    actor: string | null,
    change: (current: RuleSetConfig) => RuleSetConfig | null,
    system: (() => Record<string, unknown> & { system: string }) | null = null,
  ): Promise<RuleSetConfig> {
    let wrote = false;
    const next = await this.repository.append<RuleSetConfig>(
      EMPTY_RULESET_CONFIG,
      scope,
      actor,
      (current) => {
        const changed = change(current);
        if (!changed) return null;
        wrote = true;
        return validateConfig({ ...changed, updatedAt: new Date().toISOString(), updatedBy: actor ?? system?.().system });
      },
      diffRuleSets,
      () => system?.() ?? null,
    );
    if (!wrote) return next;
    const kv = await openConfigBucket(this.nc, this.topology);
    await kv.put(ConfigKey.RuleSets, JSON.stringify(next));
    this.log.info({ version: next.version, scope, actor, system: system?.().system }, 'rule sets changed');
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
