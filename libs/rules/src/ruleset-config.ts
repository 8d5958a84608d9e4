import { Static, Type } from '@sinclair/typebox';
import { CatalogKey, compiled } from '@app/contracts';
import { EnforcementBlock } from './enforcement';
import { RuleSet, RuleSetError, RuleSetLayer, combineLayers, validateLayer } from './ruleset';

/**
 * Every rule-set layer of a network as one versioned document: what the admin API stores in the
 * database and distributes through the KV bucket, and what each scorer resolves per event.
 */
export const RuleSetConfig = Type.Object(
  {
    version: Type.Integer({ minimum: 0 }),
    network: RuleSetLayer,
    advertisers: Type.Record(CatalogKey, RuleSetLayer),
    offers: Type.Record(CatalogKey, RuleSetLayer),
    /**
     * Enforcement blocks, written by the enforcement job (and lifted by admins), kept beside the
     * layers rather than in them: replacing a layer (`PUT`) must not drop or resurrect a block.
     */
    blocks: Type.Optional(Type.Array(EnforcementBlock, { maxItems: 100_000 })),
    updatedAt: Type.Optional(Type.String()),
    updatedBy: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type RuleSetConfig = Static<typeof RuleSetConfig>;

/** Version 0: no layer, every default. */
export const EMPTY_RULESET_CONFIG: RuleSetConfig = { version: 0, network: {}, advertisers: {}, offers: {} };

/** Validates a whole configuration document (as read from KV or the database). */
export function validateConfig(input: unknown): RuleSetConfig {
  const checked = compiled(RuleSetConfig).check(input);
  if (!checked.ok) throw new RuleSetError(checked.errors);
  const config = checked.value;
  validateLayer(config.network, 'network');
  for (const [id, l] of Object.entries(config.advertisers)) validateLayer(l, `advertisers.${id}`);
  for (const [id, l] of Object.entries(config.offers)) validateLayer(l, `offers.${id}`);
  return config;
}

/**
 * The effective rule set for an event: network ⊕ advertiser ⊕ offer. Resolutions are cached per
 * (advertiser, offer) pair, so the hot path does a map lookup; a new config means a new resolver.
 */
export class RuleSetResolver {
  private readonly cache = new Map<string, RuleSet>();
  readonly network: RuleSet;
  private readonly networkBlocks: EnforcementBlock[] = [];
  private readonly offerBlocks = new Map<string, EnforcementBlock[]>();

  constructor(
    readonly config: RuleSetConfig,
    private readonly only?: RuleSet,
  ) {
    for (const b of config.blocks ?? []) {
      if (b.liftedAt) continue;
      if (!b.offerId) this.networkBlocks.push(b);
      else this.offerBlocks.set(b.offerId, [...(this.offerBlocks.get(b.offerId) ?? []), b]);
    }
    this.network = only ?? combineLayers(versionName(config), [config.network], this.networkBlocks);
  }

  /** One rule set for every event (a file's, a test's). */
  static fixed(ruleset: RuleSet): RuleSetResolver {
    return new RuleSetResolver(EMPTY_RULESET_CONFIG, ruleset);
  }

  for(advertiserId: string | null | undefined, offerId: string | null | undefined): RuleSet {
    if (this.only) return this.only;
    const advertiser = advertiserId ? this.config.advertisers[advertiserId] : undefined;
    const offer = offerId ? this.config.offers[offerId] : undefined;
    const blocked = offerId ? this.offerBlocks.get(offerId) : undefined;
    if (!advertiser && !offer && !blocked) return this.network;
    const key = `${advertiser ? advertiserId : ''}\u0000${offer || blocked ? offerId : ''}`;
    let found = this.cache.get(key);
    if (!found) {
      const blocks = blocked ? [...this.networkBlocks, ...blocked] : this.networkBlocks;
      found = combineLayers(versionName(this.config), [this.config.network, advertiser, offer], blocks);
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(key, found);
    }
    return found;
  }
}

/** `builtin` before any change, then `v<n>`. */
export function versionName(config: RuleSetConfig): string {
  return config.version === 0 ? 'builtin-1' : `v${config.version}`;
}
