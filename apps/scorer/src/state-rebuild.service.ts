import { Inject, Injectable } from '@nestjs/common';
import { DeliverPolicy, JetStreamManager, jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { ARBITER_CONFIG, ArbiterConfig, ownedPartitions } from '@app/config';
import { ConsumerName, Topology } from '@app/contracts';
import { ConsumerSpec, DecodedItem, JETSTREAM_MANAGER, NATS_CONNECTION, StoredEvent, consumerSpecs, decodeMessage } from '@app/messaging';
import { componentLogger } from '@app/observability';
import { ScoringService } from './scoring.service';

/** Bytes one fetch of the rebuild asks for: at least the largest message a server takes by default (1 MiB). */
export const REBUILD_FETCH_BYTES = 4 * 1024 * 1024;

/**
 * Before the scorer consumes, it replays the recent past of its partitions from JetStream (up to
 * what its durable consumer has already acknowledged), so velocity windows, duplicate keys and
 * attribution continue across a restart instead of starting empty.
 */
@Injectable()
export class StateRebuildService {
  private readonly log = componentLogger('scorer-rebuild');

  constructor(
    @Inject(ARBITER_CONFIG) private readonly config: ArbiterConfig,
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    @Inject(JETSTREAM_MANAGER) private readonly jsm: JetStreamManager,
    private readonly topology: Topology,
    private readonly scoring: ScoringService,
  ) {}

  async rebuild(): Promise<void> {
    if (this.config.SCORER_REPLAY_HOURS <= 0) return;
    const specs = consumerSpecs(this.topology, this.config).get(ConsumerName.ScorerEvents) ?? [];
    for (const p of ownedPartitions(this.config)) {
      const spec = specs.find((s) => s.filterSubject === this.topology.partitionEvents(p));
      if (spec) await this.rebuildPartition(spec as ConsumerSpec<StoredEvent>);
    }
  }

  private async rebuildPartition(spec: ConsumerSpec<StoredEvent>): Promise<void> {
    const { durable, filterSubject: subject } = spec;
    const info = await this.jsm.consumers.info(this.topology.streams.events, durable).catch(() => null);
    const floor = info?.ack_floor.stream_seq ?? 0;
    if (floor === 0) return; // a new durable: it will deliver everything itself
    const started = Date.now();
    const since = new Date(started - this.config.SCORER_REPLAY_HOURS * 3600_000);
    const consumer = await jetstream(this.nc).consumers.get(this.topology.streams.events, {
      filter_subjects: subject,
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: since.toISOString(),
    });
    let replayed = 0;
    let skipped = 0;
    let done = false;
    while (!done) {
      // Bounded in bytes, not messages: 2,000 batch messages could be 500 MiB (fetches of 100 messages at most).
      const batch = await consumer.fetch({ max_bytes: REBUILD_FETCH_BYTES, expires: 2000 });
      let seen = 0;
      for await (const m of batch) {
        seen++;
        if (m.seq > floor) {
          done = true;
          break;
        }
        // A message of several events (the gateway's minted ones) replays each, as the live consumer handles them.
        // Poison (the message, or one item of it): the live consumer dead-letters it; nothing to rebuild from it.
        let items: DecodedItem<StoredEvent>[] = [];
        try {
          items = decodeMessage(spec, m.subject, m.data);
        } catch {
          skipped++;
        }
        for (const item of items) {
          if ('error' in item) skipped++;
          else {
            this.scoring.replay(item.value);
            replayed++;
          }
        }
        if (m.info.pending === 0) done = true;
      }
      if (seen === 0) done = true;
    }
    await consumer.delete().catch(() => undefined);
    this.log.info(
      { durable, replayed, skipped, upToSeq: floor, ms: Date.now() - started, clicks: this.scoring.clicksInMemory },
      'windows rebuilt',
    );
  }
}
