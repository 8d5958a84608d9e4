import { BadRequestException, Inject, Injectable } from '@nestjs/common';
import { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { ARBITER_CONFIG, ArbiterConfig } from '@app/config';
import { Topology, natsToken } from '@app/contracts';
import { DeadLetterFilter, DeadLetters, JETSTREAM_MANAGER, NATS_CONNECTION, engineDurables } from '@app/messaging';
import { DeadLetterReplayRecord, DeadLetterReplayRepository, WebhookRepository } from '@app/storage';
import { componentLogger } from '@app/observability';

/** What an admin picks dead letters by: `from` and `to` are ISO-8601 instants. */
export interface Criteria {
  consumer?: string;
  from?: string;
  to?: string;
  stream?: 'DLQ' | 'WEBHOOK_DLQ';
  ids?: string[];
}

function filterOf(q: Criteria): DeadLetterFilter {
  const f: DeadLetterFilter = { consumer: q.consumer, stream: q.stream, ids: q.ids };
  if (q.from) f.since = new Date(q.from);
  if (q.to) f.until = new Date(q.to);
  if (f.since && f.until && f.since >= f.until)
    throw new BadRequestException({ error: 'invalid', details: [{ field: 'to', message: 'must be after from' }] });
  return f;
}

/** Lists and replays the dead letters of every stream; every replay is audited (who, when, which, what came of it). */
@Injectable()
export class DeadLettersService {
  private readonly letters: DeadLetters;
  private readonly durables: Set<string>;
  private readonly log = componentLogger('dead-letters');

  constructor(
    @Inject(NATS_CONNECTION) nc: NatsConnection,
    @Inject(JETSTREAM_MANAGER) jsm: JetStreamManager,
    @Inject(ARBITER_CONFIG) config: ArbiterConfig,
    private readonly topology: Topology,
    private readonly audit: DeadLetterReplayRepository,
    private readonly webhooks: WebhookRepository,
  ) {
    this.letters = new DeadLetters(nc, jsm, topology);
    this.durables = engineDurables(topology, config);
  }

  /** The dead letters that match the criteria, oldest first (400 when `to` is not after `from`). */
  list(criteria: Criteria, limit: number) {
    return this.letters.list(filterOf(criteria), limit);
  }

  /** An admin's replay: at least one criterion, or `all: true` (400 otherwise). */
  replayMatching(body: Criteria & { all?: boolean }, actor: string) {
    const { all, ...criteria } = body;
    if (!all && !Object.values(criteria).some((v) => v !== undefined)) {
      throw new BadRequestException({
        error: 'invalid',
        details: [{ field: '(body)', message: 'give consumer, from, to, ids or stream — or all: true' }],
      });
    }
    return this.replay(filterOf(criteria), actor);
  }

  /**
   * Replays and records who did it: the audit row is written before anything is handed back and
   * completed after, so a replay that fails half-way stays in the audit, unfinished; it is written
   * even when nothing matched.
   */
  async replay(filter: DeadLetterFilter, actor: string): Promise<Omit<DeadLetterReplayRecord, 'filter'> & { filter: DeadLetterFilter }> {
    const started = await this.audit.begin(actor, { ...filter, since: filter.since?.toISOString(), until: filter.until?.toISOString() });
    let outcome: Awaited<ReturnType<DeadLetters['replay']>>;
    try {
      outcome = await this.letters.replay(filter, this.durables);
    } catch (e) {
      this.log.error({ err: e, actor, auditId: started.id }, 'dead-letter replay failed part-way; its audit row stays unfinished');
      throw e;
    }
    const record = await this.audit.finish(started, {
      replayed: outcome.replayed,
      byConsumer: outcome.byConsumer,
      deadLetters: outcome.items.map((i) => i.id),
      missing: outcome.missing,
      skipped: outcome.skipped,
    });
    this.log.info({ actor, auditId: record.id, replayed: outcome.replayed, byConsumer: outcome.byConsumer }, 'dead letters replayed');
    return { ...record, filter };
  }

  /** One advertiser's webhook dead letters (or every owner's: advertisers' webhooks and publishers' postbacks), for the webhook replay endpoints. */
  async replayWebhooks(advertiserId: string | undefined, actor: string): Promise<{ requeued: number; unreadable: number }> {
    const subject = advertiserId ? this.topology.webhookDeadLetters(natsToken(advertiserId)) : undefined;
    const r = await this.replay({ stream: 'WEBHOOK_DLQ', subject }, actor);
    return { requeued: r.replayed, unreadable: r.skipped.length };
  }

  /** One publisher's partner postback dead letters, for its replay endpoint; its postbacks are un-parked first. */
  async replayPostbacks(publisherId: string, actor: string): Promise<{ requeued: number; unreadable: number }> {
    // Un-park first: a parked endpoint would send the requeued deliveries straight back.
    await this.webhooks.unpark('publisher', publisherId);
    const r = await this.replay({ stream: 'WEBHOOK_DLQ', subject: this.topology.postbackDeadLetters(publisherId) }, actor);
    return { requeued: r.replayed, unreadable: r.skipped.length };
  }

  /**
   * The admins' webhook replay: one advertiser's webhook, one publisher's postbacks, or every parked
   * endpoint's dead letters (both audiences); the endpoints concerned are un-parked first.
   */
  async replayEndpoints(
    who: { advertiserId?: string; publisherId?: string },
    actor: string,
  ): Promise<{ requeued: number; unreadable: number }> {
    if (who.publisherId) return this.replayPostbacks(who.publisherId, actor);
    if (who.advertiserId) await this.webhooks.unpark('advertiser', who.advertiserId);
    else for (const p of await this.webhooks.parked()) await this.webhooks.unpark(p.owner, p.ownerId);
    return this.replayWebhooks(who.advertiserId, actor);
  }

  history(limit: number) {
    return this.audit.list(limit);
  }
}
