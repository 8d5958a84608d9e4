import { Static, Type } from '@sinclair/typebox';
import { CatalogKey, Evidence, StringEnum, Timestamp } from '@app/contracts';

/**
 * Automatic enforcement (DESIGN §12): "a publisher or sub-id whose invalid-click rate (or
 * conversion rejection rate) over at least `minSample` clicks (conversions) in the last
 * `windowHours` exceeds `maxRate` is blocked on that offer (or network-wide) for `blockHours`".
 * Policies live in rule-set layers; what they decide is a block, kept in the rule-set
 * configuration (`blocks`) and enforced by the ENFORCEMENT_BLOCK rule. Everything here is pure:
 * the enforcement job reads the statistics and the clock and hands them in.
 */
export const EnforcementPolicy = Type.Object(
  {
    /** Unique within its layer; a block names it as `<layer>/<id>` (e.g. `network/invalid-subids`). */
    id: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', description: 'unique within the layer' }),
    entity: StringEnum(['publisher', 'subId'] as const, 'what is measured and blocked: a whole publisher, or one sub-id of a publisher'),
    metric: StringEnum(
      ['invalidRate', 'rejectionRate'] as const,
      '`invalidRate`: invalid clicks / clicks; `rejectionRate`: rejected conversions / conversions',
    ),
    minSample: Type.Integer({ minimum: 1, maximum: 10_000_000, description: 'at least this many clicks (conversions) in the window' }),
    windowHours: Type.Number({ minimum: 1 / 3600, maximum: 24 * 30, description: 'the window: the last H hours' }),
    maxRate: Type.Number({ minimum: 0, maximum: 1, description: 'blocked when the rate exceeds this (0.3 = 30 %)' }),
    blockOn: StringEnum(
      ['offer', 'network'] as const,
      '`offer`: measured and blocked per offer; `network`: over all the layer covers, blocked everywhere',
    ),
    blockHours: Type.Number({ minimum: 1 / 3600, maximum: 24 * 90, description: 'how long the block lasts' }),
  },
  { additionalProperties: false },
);
export type EnforcementPolicy = Static<typeof EnforcementPolicy>;

/** What a policy measured when it blocked: the block's evidence. */
export const BlockEvidence = Type.Object(
  {
    metric: StringEnum(['invalidRate', 'rejectionRate'] as const),
    rate: Type.Number({ minimum: 0, maximum: 1 }),
    sample: Type.Integer({ minimum: 0 }),
    maxRate: Type.Number({ minimum: 0, maximum: 1 }),
    minSample: Type.Integer({ minimum: 1 }),
    windowHours: Type.Number({ minimum: 0 }),
    /** The window measured: traffic after `from` (later than now − windowHours after an earlier block ended). */
    from: Timestamp,
    to: Timestamp,
  },
  { additionalProperties: false },
);
export type BlockEvidence = Static<typeof BlockEvidence>;

/** One block: a publisher (or one of its sub-ids) refused on an offer, or network-wide, until `until`. */
export const EnforcementBlock = Type.Object(
  {
    id: Type.String({ pattern: '^blk-[0-9a-f]{8,32}$' }),
    publisherId: CatalogKey,
    subId: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    /** Absent: network-wide. */
    offerId: Type.Optional(CatalogKey),
    /** `<layer>/<policy id>`: the policy that made it. */
    policy: Type.String({ minLength: 1, maxLength: 200 }),
    evidence: BlockEvidence,
    createdAt: Timestamp,
    until: Timestamp,
    /** Set when an admin lifted the block before its end. */
    liftedAt: Type.Optional(Timestamp),
    liftedBy: Type.Optional(Type.String({ maxLength: 200 })),
    liftNote: Type.Optional(Type.String({ maxLength: 1000 })),
  },
  { additionalProperties: false },
);
export type EnforcementBlock = Static<typeof EnforcementBlock>;

/** What a block covers: a publisher or publisher + sub-id, on an offer or everywhere. */
export interface BlockTarget {
  publisherId: string;
  subId?: string | null;
  offerId?: string | null;
}

/** When a block stopped (or stops) applying: lifted, else its end. */
export function blockEnd(b: EnforcementBlock): number {
  return Math.min(Date.parse(b.until), b.liftedAt ? Date.parse(b.liftedAt) : Infinity);
}

export function blockActive(b: EnforcementBlock, at: number): boolean {
  return !b.liftedAt && at < Date.parse(b.until);
}

/** Whether block `b` covers `t` (a network-wide block covers every offer; a publisher block every sub-id). */
export function blockCovers(b: EnforcementBlock, t: BlockTarget): boolean {
  return (
    b.publisherId === t.publisherId &&
    (!b.subId || b.subId === (t.subId ?? undefined)) &&
    (!b.offerId || b.offerId === (t.offerId ?? undefined))
  );
}

const METRIC_TEXT = { invalidRate: 'invalid click rate', rejectionRate: 'rejection rate' } as const;

/** The ENFORCEMENT_BLOCK evidence of a block: every figure a publisher needs to understand it. */
export function blockReasonEvidence(b: EnforcementBlock): Evidence {
  return {
    block: b.id,
    policy: b.policy,
    scope: b.offerId ? `offer ${b.offerId}` : 'network',
    publisherId: b.publisherId,
    subId: b.subId ?? null,
    metric: METRIC_TEXT[b.evidence.metric],
    rate: round4(b.evidence.rate),
    sample: b.evidence.sample,
    maxRate: b.evidence.maxRate,
    windowHours: b.evidence.windowHours,
    until: b.until,
  };
}

/**
 * The blocks that apply to one resolved rule set (network-wide ones and the offer's), indexed by
 * publisher and by publisher + sub-id: a map lookup per event, the time compared only on a hit.
 */
export class CompiledBlocks {
  private readonly byKey = new Map<string, EnforcementBlock[]>();
  readonly size: number;

  constructor(blocks: readonly EnforcementBlock[]) {
    let size = 0;
    for (const b of blocks) {
      if (b.liftedAt) continue;
      const key = b.subId ? `${b.publisherId}\u0000${b.subId}` : b.publisherId;
      const list = this.byKey.get(key);
      if (list) list.push(b);
      else this.byKey.set(key, [b]);
      size++;
    }
    this.size = size;
  }

  /** The block in force for this publisher / sub-id at `ts` (ISO-8601), if any (lifted ones were left out). */
  find(publisherId: string, subId: string | null | undefined, ts: string): EnforcementBlock | null {
    if (this.size === 0) return null;
    const whole = this.byKey.get(publisherId);
    const sub = subId ? this.byKey.get(`${publisherId}\u0000${subId}`) : undefined;
    if (!whole && !sub) return null;
    const at = Date.parse(ts);
    for (const b of whole ?? []) if (inForceAt(b, at)) return b;
    for (const b of sub ?? []) if (inForceAt(b, at)) return b;
    return null;
  }
}

/** From its creation to its end: a replay of older traffic (a backtest) is not judged by today's blocks. */
function inForceAt(b: EnforcementBlock, at: number): boolean {
  return at >= Date.parse(b.createdAt) && at < Date.parse(b.until);
}

export const NO_BLOCKS = new CompiledBlocks([]);

/** A policy as it applies: where it is written (`ref`) and which traffic its layer covers. */
export interface PolicyInForce {
  /** `<layer>/<id>`, e.g. `network/invalid-subids`, `offer:shoes/bad-subs`. */
  ref: string;
  policy: EnforcementPolicy;
  /** The traffic the policy looks at: all of it, one advertiser's offers, or one offer. */
  covers: { advertiserId?: string; offerId?: string };
}

/** One group of traffic a policy measured (per publisher or sub-id, per offer when it blocks per offer). */
export interface PolicyStat {
  publisherId: string;
  subId: string | null;
  offerId: string | null;
  /** Clicks (conversions) counted. */
  sample: number;
  /** Invalid clicks (rejected conversions) among them. */
  hits: number;
}

/**
 * The blocks a policy makes from what it measured: a group over at least `minSample` whose rate
 * exceeds `maxRate`, unless a block in force already covers it. The statistics leave out traffic
 * an earlier block of the same target already answered for (see `consumedBefore`).
 */
export function decideBlocks(
  p: PolicyInForce,
  stats: readonly PolicyStat[],
  existing: readonly EnforcementBlock[],
  now: Date,
  newId: () => string,
): EnforcementBlock[] {
  const { policy } = p;
  const at = now.getTime();
  const made: EnforcementBlock[] = [];
  for (const s of stats) {
    if (policy.entity === 'subId' && !s.subId) continue;
    if (s.sample < policy.minSample || s.sample === 0) continue;
    const rate = s.hits / s.sample;
    if (!(rate > policy.maxRate)) continue;
    const target: BlockTarget = {
      publisherId: s.publisherId,
      subId: policy.entity === 'subId' ? s.subId : null,
      offerId: policy.blockOn === 'offer' ? s.offerId : null,
    };
    if (policy.blockOn === 'offer' && !target.offerId) continue;
    if ([...existing, ...made].some((b) => blockActive(b, at) && blockCovers(b, target))) continue;
    made.push({
      id: newId(),
      publisherId: target.publisherId,
      ...(target.subId ? { subId: target.subId } : {}),
      ...(target.offerId ? { offerId: target.offerId } : {}),
      policy: p.ref,
      evidence: {
        metric: policy.metric,
        rate,
        sample: s.sample,
        maxRate: policy.maxRate,
        minSample: policy.minSample,
        windowHours: policy.windowHours,
        from: windowStart(policy, target, existing, now).toISOString(),
        to: now.toISOString(),
      },
      createdAt: now.toISOString(),
      until: new Date(at + policy.blockHours * 3_600_000).toISOString(),
    });
  }
  return made;
}

/**
 * A block's evidence is used once: after a block ends (expired, or lifted by an admin), its
 * target's traffic from before the end no longer counts, so the next run cannot block again on the
 * same clicks. Each entry: traffic of this target up to `before` is left out of the statistics.
 */
export function consumedBefore(
  existing: readonly EnforcementBlock[],
): { publisherId: string; subId: string | null; offerId: string | null; before: string }[] {
  return existing.map((b) => ({
    publisherId: b.publisherId,
    subId: b.subId ?? null,
    offerId: b.offerId ?? null,
    before: new Date(blockEnd(b)).toISOString(),
  }));
}

/** Where a target's window starts: now − windowHours, or the end of the latest block that covered it. */
export function windowStart(policy: EnforcementPolicy, target: BlockTarget, existing: readonly EnforcementBlock[], now: Date): Date {
  let start = now.getTime() - policy.windowHours * 3_600_000;
  for (const b of existing) if (blockCovers(b, target)) start = Math.max(start, Math.min(blockEnd(b), now.getTime()));
  return new Date(start);
}

/**
 * Whether a block decided on statistics read earlier still stands against the configuration as it
 * is now (another instance may have blocked the same target meanwhile, or an admin lifted a block
 * whose evidence overlaps this one's window).
 */
export function stillStands(candidate: EnforcementBlock, current: readonly EnforcementBlock[], now: Date): boolean {
  const from = Date.parse(candidate.evidence.from);
  return !current.some((b) => blockCovers(b, candidate) && (blockActive(b, now.getTime()) || blockEnd(b) > from));
}

/**
 * Blocks the configuration no longer needs to keep: ended (expired or lifted) longer ago than the
 * window of the policy that made them, when their evidence can no longer be counted again.
 */
export function forgettable(b: EnforcementBlock, now: Date): boolean {
  return blockEnd(b) + b.evidence.windowHours * 3_600_000 < now.getTime();
}

/**
 * Every policy of a configuration with the traffic it covers. Policies of all layers apply (like
 * lists, they add up): the network's to all traffic, an advertiser's to its offers, an offer's to it.
 */
export function policiesInForce(config: {
  network: { enforcement?: EnforcementPolicy[] };
  advertisers: Record<string, { enforcement?: EnforcementPolicy[] }>;
  offers: Record<string, { enforcement?: EnforcementPolicy[] }>;
}): PolicyInForce[] {
  const out: PolicyInForce[] = [];
  for (const policy of config.network.enforcement ?? []) out.push({ ref: `network/${policy.id}`, policy, covers: {} });
  for (const [id, layer] of Object.entries(config.advertisers)) {
    for (const policy of layer.enforcement ?? []) out.push({ ref: `advertiser:${id}/${policy.id}`, policy, covers: { advertiserId: id } });
  }
  for (const [id, layer] of Object.entries(config.offers)) {
    for (const policy of layer.enforcement ?? []) out.push({ ref: `offer:${id}/${policy.id}`, policy, covers: { offerId: id } });
  }
  return out;
}

function round4(v: number): number {
  return Math.round(v * 10_000) / 10_000;
}
