import { DiscardPolicy, JetStreamManager, RetentionPolicy, StorageType, StreamConfig } from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import type { ArbiterConfig } from '@app/config';
import type { Topology } from '@app/contracts';
import { componentLogger } from '@app/observability';
import { StreamTrimmer } from './stream-trimmer';

/** The stream layout of DESIGN §2; applying it twice changes nothing. */
export function streamConfigs(topology: Topology, config: ArbiterConfig): (Partial<StreamConfig> & { name: string })[] {
  const hours = (h: number) => nanos(h * 3600_000);
  const common = {
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    duplicate_window: nanos(config.DUPLICATE_WINDOW_SECONDS * 1000),
    num_replicas: config.NATS_REPLICAS,
  };
  return [
    // EVENTS and VERDICTS are read by the engine's durables (scorer, recorder, notifier): full means
    // "refuse the publish" (the gateway answers 503, the scorer naks its events), never "drop what a
    // durable has not read yet" as discard-old did after JetStream had acknowledged it. The
    // StreamTrimmer removes what every durable has acknowledged, so history still fills the stream
    // up to about its cap (the scorer's rebuild reads it). max_age still deletes unread messages:
    // docs/trust.md.
    {
      ...common,
      name: topology.streams.events,
      subjects: [topology.allEvents],
      discard: DiscardPolicy.New,
      max_age: hours(config.EVENTS_MAX_AGE_HOURS),
      max_bytes: config.EVENTS_MAX_BYTES,
    },
    {
      ...common,
      name: topology.streams.verdicts,
      subjects: [topology.allVerdicts],
      discard: DiscardPolicy.New,
      max_age: hours(config.EVENTS_MAX_AGE_HOURS),
      max_bytes: config.EVENTS_MAX_BYTES,
    },
    // Advertisers may read their decisions with their own durable consumer on this stream (the
    // engine publishes nothing here today). Discard old: a consumer outside the engine must not be
    // able to stop it; docs/trust.md.
    {
      ...common,
      name: topology.streams.decisions,
      subjects: [topology.allDecisions],
      max_age: hours(30 * 24),
      max_bytes: Math.ceil(config.EVENTS_MAX_BYTES / 4),
    },
    // Webhook deliveries waiting for an attempt (retries are naks with a delay, not new messages).
    // A work queue that refuses new messages when full rather than dropping waiting ones: the
    // notifier then retries the decision, and nothing is lost.
    {
      ...common,
      name: topology.streams.webhooks,
      subjects: [topology.allWebhooks],
      retention: RetentionPolicy.Workqueue,
      discard: DiscardPolicy.New,
      max_age: hours(7 * 24),
      max_bytes: Math.ceil(config.EVENTS_MAX_BYTES / 8),
    },
    // Webhook deliveries that failed for good, replayable through the API; full means "refuse", not "forget".
    {
      ...common,
      name: topology.streams.webhookDlq,
      subjects: [topology.allWebhookDeadLetters],
      discard: DiscardPolicy.New,
      max_age: hours(30 * 24),
      max_bytes: Math.ceil(config.EVENTS_MAX_BYTES / 16),
    },
    // Dead letters being replayed: each waits for the one durable consumer that parked it (its
    // `<durable>-replay` companion), and goes once that consumer acked it.
    {
      ...common,
      name: topology.streams.replay,
      subjects: [topology.allReplay],
      retention: RetentionPolicy.Workqueue,
      discard: DiscardPolicy.New,
      max_age: hours(30 * 24),
      max_bytes: Math.ceil(config.EVENTS_MAX_BYTES / 16),
    },
    // Dead letters are kept until someone has looked at them: a month. Discard old (no durable reads
    // it; refusing would stop the consumer that parks a poison message): docs/trust.md.
    {
      ...common,
      name: topology.streams.dlq,
      subjects: [topology.allDlq],
      max_age: hours(30 * 24),
      max_bytes: Math.ceil(config.EVENTS_MAX_BYTES / 16),
    },
  ];
}

/**
 * Creates the streams or brings their limits up to date (discard policy included: a stream an
 * earlier version made discard-old becomes discard-new; nats-server 2.9 allows that edit). Run by
 * `arbiter migrate` and at start.
 */
export async function provisionStreams(jsm: JetStreamManager, topology: Topology, config: ArbiterConfig): Promise<void> {
  const trimmed = new Map(StreamTrimmer.streams(topology).map(([label, name]) => [name, label]));
  for (const cfg of streamConfigs(topology, config)) {
    let discardWas: DiscardPolicy | undefined;
    try {
      discardWas = (await jsm.streams.info(cfg.name)).config.discard;
      await jsm.streams.update(cfg.name, cfg);
    } catch (e) {
      if ((e as Error).name !== 'StreamNotFoundError' && !/stream not found/i.test((e as Error).message)) throw e;
      await jsm.streams.add(cfg);
    }
    // A discard-old stream in steady state is about 100 % full: as discard-new it would refuse every
    // publish until a recorder's trimmer ran (none does during a rolling upgrade until a recorder of
    // this version started). Trimmed once here with the trimmer's own rule: only what every durable
    // (the configuration's included) acknowledged, back to about 75 %.
    const label = trimmed.get(cfg.name);
    if (label && discardWas === DiscardPolicy.Old && cfg.discard === DiscardPolicy.New) {
      await new StreamTrimmer(jsm, topology, config, false)
        .trim(cfg.name, label)
        .catch((e: unknown) =>
          componentLogger('provisioner').warn({ err: e, stream: cfg.name }, 'could not trim the stream switched to discard new'),
        );
    }
  }
  // The configuration bucket: active rule sets and model; a little history for forensics. Both
  // buckets are created here, where the replica count is known (later opens find them).
  await new Kvm(jsm.jetstream()).create(topology.configBucket, { history: 10, replicas: config.NATS_REPLICAS });
  await new Objm(jsm.jetstream()).create(topology.modelsBucket, { replicas: config.NATS_REPLICAS });
}

/** Deletes every stream of a namespace (benchmarks and tests clean up after themselves). */
export async function removeNamespaceStreams(jsm: JetStreamManager, topology: Topology): Promise<void> {
  if (!topology.namespace) throw new Error('refusing to delete the streams of the default namespace');
  for (const name of [...Object.values(topology.streams), `KV_${topology.configBucket}`, `OBJ_${topology.modelsBucket}`]) {
    await jsm.streams.delete(name).catch((e: Error) => {
      if (e.name !== 'StreamNotFoundError' && !/stream not found/i.test(e.message)) throw e;
    });
  }
}
