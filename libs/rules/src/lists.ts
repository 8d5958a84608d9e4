import { Static, Type } from '@sinclair/typebox';
import { CidrSet, STARTER_DATACENTER_RANGES } from '@app/features';

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
    /** The built-in starter list of hosting ranges (on unless a layer turns it off). */
    useStarterDatacenterList: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type ListsInput = Static<typeof ListsInput>;

/** Lists compiled for lookups on the hot path. */
export class CompiledLists {
  readonly denyIps: CidrSet;
  readonly allowIps: CidrSet;
  readonly datacenter: CidrSet;
  readonly denyDevices: ReadonlySet<string>;
  readonly denyPublishers: ReadonlySet<string>;
  readonly denySubIds: ReadonlySet<string>;

  /** Later layers add to earlier ones; the last explicit `useStarterDatacenterList` wins. */
  constructor(layers: readonly (ListsInput | undefined)[]) {
    const all = (k: keyof Omit<ListsInput, 'useStarterDatacenterList'>) => layers.flatMap((l) => l?.[k] ?? []);
    const starter = layers.reduce<boolean>((on, l) => l?.useStarterDatacenterList ?? on, true);
    this.denyIps = new CidrSet(all('denyIps'));
    this.allowIps = new CidrSet(all('allowIps'));
    this.datacenter = new CidrSet([...(starter ? STARTER_DATACENTER_RANGES : []), ...all('datacenterCidrs')]);
    this.denyDevices = new Set(all('denyDevices'));
    this.denyPublishers = new Set(all('denyPublishers'));
    this.denySubIds = new Set(all('denySubIds'));
  }

  subIdDenied(publisherId: string, subId: string | null | undefined): boolean {
    return !!subId && (this.denySubIds.has(`${publisherId}:${subId}`) || this.denySubIds.has(subId));
  }
}
