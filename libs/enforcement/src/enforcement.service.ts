import { randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { Evidence, REASON_CODES, publisherReason } from '@app/contracts';
import { metrics } from '@app/observability';
import {
  EnforcementBlock,
  RuleSetConfig,
  blockActive,
  blockReasonEvidence,
  consumedBefore,
  decideBlocks,
  forgettable,
  policiesInForce,
  stillStands,
} from '@app/rules';
import { RuleSetStore } from '@app/live-config';
import { EnforcementRepository } from '@app/storage';

export type BlockStatus = 'active' | 'expired' | 'lifted';

/** A block as an admin reads it: the stored block, its status and the reason traffic gets. */
export interface BlockView extends EnforcementBlock {
  status: BlockStatus;
  reason: { code: 'ENFORCEMENT_BLOCK'; message: string; evidence: Evidence };
}

/** A block as its publisher reads it (DESIGN §3a): what is blocked, until when, and why. */
export interface PublisherBlockView {
  id: string;
  offerId: string | null;
  subId: string | null;
  since: string;
  until: string;
  reason: { code: 'ENFORCEMENT_BLOCK'; title: string; message: string; evidence: Evidence };
}

/** What one evaluation did. */
export interface EnforcementRun {
  at: string;
  policies: number;
  made: EnforcementBlock[];
  /** Ended blocks forgotten (their evidence can no longer be counted again). */
  forgotten: number;
  version: number;
}

export class BlockNotFoundError extends Error {
  readonly statusCode = 404;
  constructor(readonly id: string) {
    super(`no enforcement block ${id}`);
    this.name = 'BlockNotFoundError';
  }
}

export class BlockNotActiveError extends Error {
  readonly statusCode = 409;
  constructor(readonly block: EnforcementBlock) {
    super(`block ${block.id} is no longer in force (${block.liftedAt ? `lifted at ${block.liftedAt}` : `expired at ${block.until}`})`);
    this.name = 'BlockNotActiveError';
  }
}

const newBlockId = () => `blk-${randomBytes(6).toString('hex')}`;

/**
 * Automatic enforcement (DESIGN §12): evaluates the rule sets' enforcement policies on the
 * recorded verdicts and decisions, and turns what they find into blocks — rule-set changes like
 * any other (a new version, distributed to every scorer and gateway through the KV bucket, with its
 * diff in the history), audited as made by `{ system: 'enforcement' }` and the policies. An admin
 * lifts a block the same way, audited with their key.
 */
@Injectable()
export class EnforcementService {
  constructor(
    private readonly store: RuleSetStore,
    private readonly stats: EnforcementRepository,
  ) {}

  /**
   * One evaluation of every policy at `now`. The statistics are read without the rule-set lock;
   * the blocks are then written under it, re-checked against the configuration as it is by then
   * (another instance's blocks, an admin's lift), so concurrent runs never block a target twice.
   */
  async run(now = new Date()): Promise<EnforcementRun> {
    const config = await this.store.current();
    const existing = config.blocks ?? [];
    const policies = policiesInForce(config);
    const consumed = consumedBefore(existing);
    const found: EnforcementBlock[] = [];
    for (const p of policies) {
      const rows = await this.stats.offenders({
        metric: p.policy.metric,
        bySubId: p.policy.entity === 'subId',
        byOffer: p.policy.blockOn === 'offer',
        ...p.covers,
        from: new Date(now.getTime() - p.policy.windowHours * 3_600_000),
        to: now,
        minSample: p.policy.minSample,
        maxRate: p.policy.maxRate,
        consumed,
      });
      found.push(...decideBlocks(p, rows, [...existing, ...found], now, newBlockId));
    }
    if (!found.length && !existing.some((b) => forgettable(b, now))) {
      return { at: now.toISOString(), policies: policies.length, made: [], forgotten: 0, version: config.version };
    }
    let made: EnforcementBlock[] = [];
    let forgotten = 0;
    const next = await this.store.systemChange(
      'enforcement',
      () => ({ system: 'enforcement', policies: [...new Set(made.map((b) => b.policy))], blocks: made.map((b) => b.id), forgotten }),
      (current) => {
        const blocks = current.blocks ?? [];
        made = found.filter((b) => stillStands(b, blocks, now));
        const kept = blocks.filter((b) => !forgettable(b, now));
        forgotten = blocks.length - kept.length;
        if (!made.length && !forgotten) return null;
        return { ...current, blocks: [...kept, ...made] };
      },
    );
    if (made.length) metrics.enforcementBlocks.inc({ action: 'made' }, made.length);
    return { at: now.toISOString(), policies: policies.length, made, forgotten, version: next.version };
  }

  /** Blocks the configuration holds (in force, and ended ones still remembered), newest first. */
  async blocks(filter: { publisherId?: string; status?: BlockStatus } = {}, now = new Date()): Promise<BlockView[]> {
    const config = await this.store.current();
    return (config.blocks ?? [])
      .map((b) => view(b, now))
      .filter((b) => (!filter.publisherId || b.publisherId === filter.publisherId) && (!filter.status || b.status === filter.status))
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  /** A publisher's blocks in force, with the reason its traffic gets (masked as every publisher view). */
  async publisherBlocks(publisherId: string, now = new Date()): Promise<PublisherBlockView[]> {
    const config = await this.store.current();
    return (config.blocks ?? [])
      .filter((b) => b.publisherId === publisherId && blockActive(b, now.getTime()))
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt))
      .map((b) => {
        const evidence = blockReasonEvidence(b);
        const shown = publisherReason({ code: 'ENFORCEMENT_BLOCK', evidence, message: '' });
        return {
          id: b.id,
          offerId: b.offerId ?? null,
          subId: b.subId ?? null,
          since: b.createdAt,
          until: b.until,
          reason: { code: 'ENFORCEMENT_BLOCK', title: REASON_CODES.ENFORCEMENT_BLOCK.title, ...shown },
        };
      });
  }

  /**
   * Lifts a block in force (an admin's call, audited with their key and note): traffic flows again
   * at once, and the block's evidence does not count again — the policy blocks the target anew only
   * on traffic after the lift.
   */
  async lift(id: string, actor: string | null, note: string | undefined, now = new Date()): Promise<BlockView> {
    let lifted: EnforcementBlock | undefined;
    await this.store.adminChange('enforcement:lift', actor, (current: RuleSetConfig) => {
      const blocks = current.blocks ?? [];
      const found = blocks.find((b) => b.id === id);
      if (!found) throw new BlockNotFoundError(id);
      if (!blockActive(found, now.getTime())) throw new BlockNotActiveError(found);
      lifted = { ...found, liftedAt: now.toISOString(), ...(actor ? { liftedBy: actor } : {}), ...(note ? { liftNote: note } : {}) };
      return { ...current, blocks: blocks.map((b) => (b.id === id ? lifted! : b)) };
    });
    metrics.enforcementBlocks.inc({ action: 'lifted' });
    return view(lifted!, now);
  }
}

function view(b: EnforcementBlock, now: Date): BlockView {
  const evidence = blockReasonEvidence(b);
  const status: BlockStatus = b.liftedAt ? 'lifted' : blockActive(b, now.getTime()) ? 'active' : 'expired';
  return { ...b, status, reason: { code: 'ENFORCEMENT_BLOCK', message: REASON_CODES.ENFORCEMENT_BLOCK.explain(evidence), evidence } };
}
