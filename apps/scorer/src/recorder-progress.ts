import { Inject, Injectable } from '@nestjs/common';
import type { JetStreamManager } from '@nats-io/jetstream';
import { ARBITER_CONFIG, ArbiterConfig } from '@app/config';
import { ConsumerName, Topology } from '@app/contracts';
import { JETSTREAM_MANAGER, consumerSpecs } from '@app/messaging';

/** How far the recorder has written what the scorers published. */
export interface Progress {
  /** The last sequence of VERDICTS, read first. */
  published: number;
  /** The recorder's ack floor on VERDICTS, read after: every outcome up to it is recorded (or dead-lettered). */
  recorded: number;
}

/**
 * Reads the recorder's progress on VERDICTS from JetStream: whether an outcome published before a
 * given moment has been recorded by now. Asked only for redelivered events the scorer no longer
 * remembers, never for a first delivery.
 */
@Injectable()
export class RecorderProgress {
  private readonly durable: string;

  constructor(
    @Inject(ARBITER_CONFIG) config: ArbiterConfig,
    @Inject(JETSTREAM_MANAGER) private readonly jsm: JetStreamManager,
    private readonly topology: Topology,
  ) {
    this.durable = consumerSpecs(topology, config).get(ConsumerName.RecorderVerdicts)![0].durable;
  }

  /** Null when no recorder durable consumes VERDICTS (not created yet, or deleted): the scorer waits for one a bounded time. */
  async read(): Promise<Progress | null> {
    const stream = this.topology.streams.verdicts;
    // In this order: the floor read second covers every outcome published before the first read.
    const published = (await this.jsm.streams.info(stream)).state.last_seq;
    const consumer = await this.jsm.consumers.info(stream, this.durable).catch((e: unknown) => {
      if ((e as Error)?.name === 'ConsumerNotFoundError' || /consumer not found/i.test((e as Error)?.message ?? '')) return null;
      throw e;
    });
    return consumer ? { published, recorded: consumer.ack_floor.stream_seq } : null;
  }
}
