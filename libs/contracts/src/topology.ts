import type { EventKind } from './events.schema';

/** Names of the durable consumers; handlers bind to them with `@EventPattern(ConsumerName.X)`. */
export enum ConsumerName {
  ScorerEvents = 'scorer-events',
  RecorderEvents = 'recorder-events',
  RecorderVerdicts = 'recorder-verdicts',
  NotifierDecisions = 'notifier-decisions',
  NotifierWebhooks = 'notifier-webhooks',
}

/**
 * Streams, subjects and buckets of DESIGN §2 "NATS layout". A namespace prefixes everything, so
 * several engines (or test runs) can share one NATS server without seeing each other's traffic.
 */
export class Topology {
  readonly root: string;
  readonly streams: {
    events: string;
    verdicts: string;
    decisions: string;
    webhooks: string;
    dlq: string;
    webhookDlq: string;
    replay: string;
  };
  readonly configBucket: string;
  /** NATS object store holding model artifacts (too large for a KV value). */
  readonly modelsBucket: string;

  constructor(
    readonly namespace = '',
    readonly partitions = 1,
  ) {
    this.root = namespace ? `${namespace}.arbiter` : 'arbiter';
    const s = namespace ? `${namespace.toUpperCase()}_` : '';
    this.streams = {
      events: `${s}EVENTS`,
      verdicts: `${s}VERDICTS`,
      decisions: `${s}DECISIONS`,
      webhooks: `${s}WEBHOOKS`,
      dlq: `${s}DLQ`,
      webhookDlq: `${s}WEBHOOK_DLQ`,
      replay: `${s}REPLAY`,
    };
    this.configBucket = namespace ? `${namespace}-arbiter-config` : 'arbiter-config';
    this.modelsBucket = namespace ? `${namespace}-arbiter-models` : 'arbiter-models';
  }

  /** `arbiter.events.<kind>.<partition>` */
  event(kind: EventKind, partition: number): string {
    return `${this.root}.events.${kind}.${partition}`;
  }

  /** Every event kind of one partition: what one scorer partition consumes. */
  partitionEvents(partition: number): string {
    return `${this.root}.events.*.${partition}`;
  }

  get allEvents(): string {
    return `${this.root}.events.>`;
  }

  verdict(kind: 'click' | 'conversion'): string {
    return `${this.root}.verdicts.${kind}`;
  }

  get allVerdicts(): string {
    return `${this.root}.verdicts.>`;
  }

  /** Decisions for one advertiser; ids are reduced to NATS-safe tokens. */
  decisions(advertiserId: string | null): string {
    return `${this.root}.decisions.${advertiserId ? natsToken(advertiserId) : '_unknown'}`;
  }

  get allDecisions(): string {
    return `${this.root}.decisions.>`;
  }

  /** Webhook deliveries waiting for (another) attempt, per advertiser. */
  webhooks(advertiserId: string | null): string {
    return `${this.root}.webhooks.${advertiserId ? natsToken(advertiserId) : '_unknown'}`;
  }

  /**
   * A publisher's partner postback deliveries: the same stream and consumer as the advertisers'
   * webhooks, told apart by the extra `publisher` token (an advertiser's subject has one token there).
   */
  postbacks(publisherId: string): string {
    return `${this.root}.webhooks.publisher.${natsToken(publisherId)}`;
  }

  /** Whose endpoint a subject of the WEBHOOKS stream (or of its dead letters) is for. */
  webhookOwner(subject: string): 'advertiser' | 'publisher' {
    const rest = subject.slice(this.root.length + 1).split('.');
    return rest.length === 3 && rest[1] === 'publisher' ? 'publisher' : 'advertiser';
  }

  /** `<root>.webhooks.…` → `<root>.webhook-dlq.…`: each owner's dead letters on a subject of its own. */
  webhookDeadLetterOf(subject: string): string {
    return `${this.root}.webhook-dlq.${subject.slice(`${this.root}.webhooks.`.length)}`;
  }

  /** One publisher's postback deliveries that failed for good. */
  postbackDeadLetters(publisherId: string): string {
    return `${this.root}.webhook-dlq.publisher.${natsToken(publisherId)}`;
  }

  get allWebhooks(): string {
    return `${this.root}.webhooks.>`;
  }

  dlq(source: string): string {
    return `${this.root}.dlq.${natsToken(source)}`;
  }

  get allDlq(): string {
    return `${this.root}.dlq.>`;
  }

  /** Dead letters handed back to the one durable consumer that parked them (`arbiter dlq replay`). */
  replay(durable: string): string {
    return `${this.root}.replay.${natsToken(durable)}`;
  }

  get allReplay(): string {
    return `${this.root}.replay.>`;
  }

  /** Webhook deliveries that failed for good, per advertiser (their own stream: one tenant cannot crowd out the others' dead letters). */
  webhookDeadLetters(advertiserToken: string): string {
    return `${this.root}.webhook-dlq.${natsToken(advertiserToken)}`;
  }

  get allWebhookDeadLetters(): string {
    return `${this.root}.webhook-dlq.>`;
  }

  /** Core-NATS notification that the catalog changed (caches reload). */
  get catalogChanged(): string {
    return `${this.root}.catalog.changed`;
  }

  /** The event kind of a subject on the EVENTS stream, or null. */
  kindOf(subject: string): EventKind | null {
    const prefix = `${this.root}.events.`;
    if (!subject.startsWith(prefix)) return null;
    const kind = subject.slice(prefix.length).split('.')[0];
    return kind === 'click' || kind === 'conversion' || kind === 'feedback' ? kind : null;
  }
}

/** Replaces characters that NATS treats specially in a subject token. */
export function natsToken(value: string): string {
  return value.replace(/[.*>\s]/g, '_');
}
