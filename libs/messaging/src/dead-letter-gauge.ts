import { OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { JetStreamManager } from '@nats-io/jetstream';
import { Logger, componentLogger, metrics } from '@app/observability';
import type { Topology } from '@app/contracts';
import { PeriodicRound } from './periodic-round';

/** How often the dead-letter streams' depth is read. */
export const DEAD_LETTER_REFRESH_MS = 15_000;

/**
 * Exports how many messages wait in the dead-letter streams (`arbiter_dead_letters`, labelled with
 * the stream's logical name, `DLQ` or `WEBHOOK_DLQ`), read from JetStream at start and every 15 s.
 * Every service that imports MessagingModule reports it, so dashboards and alerts take
 * `max by (stream)`. A stream that does not exist counts as 0; when NATS cannot answer, the last
 * value stays (an outage must not look like an emptied DLQ).
 */
export class DeadLetterGauge implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly rounds = new PeriodicRound(DEAD_LETTER_REFRESH_MS, () => this.refresh());
  private readonly log: Logger = componentLogger('dead-letters');

  constructor(
    private readonly jsm: JetStreamManager,
    private readonly topology: Topology,
  ) {}

  /** Logical name (the gauge's `stream` label) → the namespaced stream name. */
  private get streams(): [string, string][] {
    return [
      ['DLQ', this.topology.streams.dlq],
      ['WEBHOOK_DLQ', this.topology.streams.webhookDlq],
    ];
  }

  onApplicationBootstrap(): void {
    // Not awaited: boot does not wait for a metric.
    this.rounds.start();
  }

  /** Before the connection drains (NatsLifecycle, on application shutdown). */
  async onModuleDestroy(): Promise<void> {
    await this.rounds.stop();
  }

  /** Reads both streams' message counts and sets the gauge; never throws. */
  async refresh(): Promise<void> {
    const gauge = metrics.deadLetters;
    await Promise.all(
      this.streams.map(async ([label, name]) => {
        try {
          gauge.labels(label).set(await this.depth(name));
        } catch (e) {
          this.log.debug({ err: e, stream: name }, 'could not read the dead-letter stream depth');
        }
      }),
    );
  }

  private async depth(stream: string): Promise<number> {
    try {
      return (await this.jsm.streams.info(stream)).state.messages;
    } catch (e) {
      if ((e as Error).name === 'StreamNotFoundError' || /stream not found/i.test((e as Error).message)) return 0;
      throw e;
    }
  }
}
