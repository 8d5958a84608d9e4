import { Static, Type } from '@sinclair/typebox';
import { CidrSet, CidrSetChain, STARTER_DATACENTER_RANGES } from '@app/features';
import { CompiledBlocks, EnforcementBlock, NO_BLOCKS } from './enforcement';

const Entries = (max: number, description: string) =>
  Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: max, description }));

/** Allow and deny lists of one rule-set layer. Lists of all layers that apply are united. */
export const ListsInput = Type.Object(
  {
    denyIps: Entries(100_000, 'addresses or CIDR ranges whose traffic is rejected (DENY_LISTED)'),
    /** Exempt from the IP-based rules (velocity, data center): office gateways, partners' proxies. */
    allowIps: Entries(100_000, 'addresses or CIDR ranges exempt from IP velocity and data-center checks'),
    denyDevices: Entries(100_000, 'device ids whose traffic is rejected'),
    denyPublishers: Entries(10_000, 'publisher ids whose traffic is rejected'),
    denySubIds: Entries(100_000, '"publisherId:subId", or a bare sub-id for every publisher'),
    datacenterCidrs: Entries(200_000, 'hosting / cloud / proxy ranges for DATACENTER_IP, added to the starter list'),
    /** A provider's published ranges, named in DATACENTER_IP's evidence (`arbiter ranges` writes these). */
    datacenterRanges: Type.Optional(
      Type.Array(
        Type.Object(
          {
            provider: Type.String({ minLength: 1, maxLength: 100, description: 'named in the evidence, e.g. "Amazon Web Services"' }),
            cidrs: Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 200_000 }),
          },
          { additionalProperties: false },
        ),
        { maxItems: 200, description: "providers' published hosting ranges for DATACENTER_IP, added to the starter list" },
      ),
    ),
    /** The built-in starter list of hosting ranges (on unless a layer turns it off). */
    useStarterDatacenterList: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type ListsInput = Static<typeof ListsInput>;

let starterCompiled: CidrSet | null = null;
/** The starter list compiled once (about 6,000 blocks, ~60 ms): every rule set shares it. */
function starterSet(): CidrSet {
  return (starterCompiled ??= new CidrSet(STARTER_DATACENTER_RANGES));
}

/** Lists compiled for lookups on the hot path. */
export class CompiledLists {
  readonly denyIps: CidrSet;
  readonly allowIps: CidrSet;
  readonly datacenter: CidrSetChain;
  readonly denyDevices: ReadonlySet<string>;
  readonly denyPublishers: ReadonlySet<string>;
  readonly denySubIds: ReadonlySet<string>;
  /** Enforcement blocks in force for this rule set (network-wide and the offer's): ENFORCEMENT_BLOCK. */
  readonly blocks: CompiledBlocks;

  /** Later layers add to earlier ones; the last explicit `useStarterDatacenterList` wins. */
  constructor(layers: readonly (ListsInput | undefined)[], blocks: readonly EnforcementBlock[] = []) {
    const all = (k: keyof Omit<ListsInput, 'useStarterDatacenterList' | 'datacenterRanges'>) => layers.flatMap((l) => l?.[k] ?? []);
    const providers = layers.flatMap((l) => l?.datacenterRanges ?? []).flatMap((p) => p.cidrs.map((cidr) => ({ cidr, label: p.provider })));
    const starter = layers.reduce<boolean>((on, l) => l?.useStarterDatacenterList ?? on, true);
    this.denyIps = new CidrSet(all('denyIps'));
    this.allowIps = new CidrSet(all('allowIps'));
    // Operator lists first: where one overlaps a starter block, its provider is the one named.
    const operator = new CidrSet([...providers, ...all('datacenterCidrs')]);
    this.datacenter = new CidrSetChain(starter ? [operator, starterSet()] : [operator]);
    this.denyDevices = new Set(all('denyDevices'));
    this.denyPublishers = new Set(all('denyPublishers'));
    this.denySubIds = new Set(all('denySubIds'));
    this.blocks = blocks.length ? new CompiledBlocks(blocks) : NO_BLOCKS;
  }

  subIdDenied(publisherId: string, subId: string | null | undefined): boolean {
    // Empty on most rule sets: no key is built (a string per click) to look up in nothing.
    return !!subId && this.denySubIds.size > 0 && (this.denySubIds.has(`${publisherId}:${subId}`) || this.denySubIds.has(subId));
  }
}
