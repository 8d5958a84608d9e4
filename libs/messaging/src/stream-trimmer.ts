import { OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import type { ConsumerInfo, JetStreamManager } from '@nats-io/jetstream';
import type { ArbiterConfig } from '@app/config';
import type { Topology } from '@app/contracts';
import { Logger, componentLogger, degradations, metrics } from '@app/observability';
import { engineDurables } from './consumer-spec';

/** How often each stream's fill is read (a stream info each); consumers are listed only above TRIM_ABOVE. */
export const TRIM_EVERY_MS = 5_000;
/** Trimming starts above this share of max_bytes (or max_msgs)... */
export const TRIM_ABOVE = 0.9;
/** ...and purges back down to about this share, keeping the rest as history (the scorer's rebuild reads EVENTS). */
export const TRIM_DOWN_TO = 0.75;

const ERROR_LOG_EVERY_MS = 60_000;

/** A durable that keeps a nearly full stream from being trimmed far enough: it has not acknowledged what would go. */
export interface TrimBlocker {
  durable: string;
  /** Messages not yet delivered to it plus delivered and not acknowledged. */
  backlog: number;
  /** The first stream sequence it may still need. */
  keepFrom: number;
  /** False for a durable the engine's configuration does not have (e.g. `scorer-p3` after lowering ARBITER_PARTITIONS). */
  known: boolean;
}

export interface TrimResult {
  stream: string;
  /** Share of the stream's limit in use before trimming (the larger of bytes and messages). */
  fill: number;
  purged: number;
  blockers: TrimBlocker[];
}

/**
 * The first stream sequence `c` may still need, given the stream's last sequence read BEFORE `c`'s
 * info: an idle durable (nothing pending, nothing unacknowledged; a nak'ed or redelivering message
 * counts as unacknowledged) has had every message up to `lastSeq` delivered and acknowledged, or
 * they are not its subjects; otherwise its ack floor is the last sequence below which all it reads
 * is acknowledged. For a filtered durable (a scorer partition) the floor is its own last acked
 * message: other subjects' messages between it and its next one stay, which only keeps more.
 */
export function keepFrom(c: Pick<ConsumerInfo, 'num_pending' | 'num_ack_pending' | 'ack_floor'>, lastSeq: number): number {
  if (c.num_pending === 0 && c.num_ack_pending === 0) return lastSeq + 1;
  return c.ack_floor.stream_seq + 1;
}

/**
 * Keeps EVENTS and VERDICTS (discard new: full refuses publishes) from filling with history their
 * durables have already consumed. Above TRIM_ABOVE of its limit a stream's oldest messages are
 * purged up to the first one some durable still needs, and no further than back to TRIM_DOWN_TO.
 * A durable with a backlog that stops the purge short (a stale one, or a consumer far behind) is
 * logged with its backlog, counted in `arbiter_stream_trim_blocked` and reported on `/health`: once
 * the stream is full, ingest is refused (503) until it catches up or is deleted.
 *
 * Runs in every recorder (in both shapes). Several may purge at once: each purge is up to a
 * sequence every durable had acknowledged when it was read, so a late or repeated one is harmless.
 */
export class StreamTrimmer implements OnApplicationBootstrap, OnModuleDestroy {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private readonly log: Logger = componentLogger('stream-trimmer');
  private readonly durables: Set<string>;
  /** Durables reported as blocking, per stream (to clear their gauge once they no longer do). */
  private readonly blocking = new Map<string, Set<string>>();
  /** When the blocking durables of a stream were last logged, and which. */
  private readonly said = new Map<string, { who: string; at: number }>();

  constructor(
    private readonly jsm: JetStreamManager,
    private readonly topology: Topology,
    config: ArbiterConfig,
  ) {
    this.durables = engineDurables(topology, config);
  }

  /** Logical name (the metrics' `stream` label) → the namespaced stream name. */
  private get streams(): [string, string][] {
    return [
      ['EVENTS', this.topology.streams.events],
      ['VERDICTS', this.topology.streams.verdicts],
    ];
  }

  onApplicationBootstrap(): void {
    this.tick();
    this.timer = setInterval(() => this.tick(), TRIM_EVERY_MS);
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private tick(): void {
    // One round at a time: a slow NATS must not pile requests up.
    this.running ??= this.trimAll()
      .then(() => undefined)
      .finally(() => (this.running = undefined));
  }

  /** Trims both streams once; never throws (a failure is logged and tried again next round). */
  async trimAll(): Promise<TrimResult[]> {
    const results: TrimResult[] = [];
    for (const [label, name] of this.streams) {
      try {
        results.push(await this.trim(name, label));
      } catch (e) {
        this.log.warn({ err: e, stream: name }, 'could not trim the stream; will try again');
      }
    }
    return results;
  }

  /** Trims one stream if it is above TRIM_ABOVE of its limit; `label` names it in metrics and health. */
  async trim(stream: string, label = stream): Promise<TrimResult> {
    // The stream first: every durable's state read after it covers all of its messages (keepFrom).
    const { state, config } = await this.jsm.streams.info(stream);
    const byBytes = config.max_bytes > 0 ? state.bytes / config.max_bytes : 0;
    const byMsgs = config.max_msgs > 0 ? state.messages / config.max_msgs : 0;
    const fill = Math.max(byBytes, byMsgs);
    metrics.streamFill.labels(label).set(fill);
    if (fill < TRIM_ABOVE || state.messages === 0) {
      this.report(stream, label, []);
      return { stream, fill, purged: 0, blockers: [] };
    }

    // Enough of the oldest messages to get back to TRIM_DOWN_TO (bytes by the average message).
    const overBytes = config.max_bytes > 0 ? state.bytes - TRIM_DOWN_TO * config.max_bytes : 0;
    const overMsgs = config.max_msgs > 0 ? state.messages - TRIM_DOWN_TO * config.max_msgs : 0;
    const count = Math.min(state.messages, Math.max(Math.ceil(overBytes / (state.bytes / state.messages)), Math.ceil(overMsgs)));
    const wanted = state.first_seq + count;

    let safe = state.last_seq + 1;
    const held: { info: ConsumerInfo; keep: number }[] = [];
    for await (const info of this.jsm.consumers.list(stream)) {
      // Ephemeral readers (the scorer's rebuild, a CLI) take what is there; durables are owed every message.
      if (!info.config.durable_name) continue;
      const keep = keepFrom(info, state.last_seq);
      safe = Math.min(safe, keep);
      if (keep < wanted) held.push({ info, keep });
    }

    const upTo = Math.min(safe, wanted);
    let purged = 0;
    if (upTo > state.first_seq) {
      purged = (await this.jsm.streams.purge(stream, { seq: upTo })).purged;
      if (purged) metrics.streamTrimmed.labels(label).inc(purged);
      this.log.info({ stream, purged, upTo, fill: round(fill) }, 'trimmed messages every durable had acknowledged');
    }
    const blockers = held.map(({ info, keep }) => ({
      durable: info.config.durable_name!,
      backlog: info.num_pending + info.num_ack_pending,
      keepFrom: keep,
      known: this.durables.has(info.config.durable_name!),
    }));
    this.report(stream, label, blockers, fill);
    return { stream, fill, purged, blockers };
  }

  private report(stream: string, label: string, blockers: TrimBlocker[], fill = 0): void {
    const component = `stream ${label}`;
    const before = this.blocking.get(label) ?? new Set<string>();
    for (const d of before) if (!blockers.some((b) => b.durable === d)) metrics.streamTrimBlocked.labels(label, d).set(0);
    this.blocking.set(label, new Set(blockers.map((b) => b.durable)));
    if (!blockers.length) {
      this.said.delete(label);
      if (degradations.clear(component)) this.log.info({ stream }, 'the stream can be trimmed again');
      return;
    }
    for (const b of blockers) metrics.streamTrimBlocked.labels(label, b.durable).set(b.backlog);
    const names = blockers
      .map(
        (b) =>
          `${b.durable} (${b.backlog} not acknowledged${b.known ? '' : '; not a consumer of this configuration: delete it if nothing reads it'})`,
      )
      .join(', ');
    const error = `${stream} is ${Math.round(fill * 100)} % full and cannot be trimmed past what ${names} has not acknowledged; when full, publishes are refused (ingest answers 503)`;
    // Every round reports to /health and the metric; the log says it when it starts, changes, and each minute.
    const said = this.said.get(label);
    const who = blockers.map((b) => b.durable).join(',');
    if (!said || said.who !== who || Date.now() - said.at >= ERROR_LOG_EVERY_MS) {
      this.said.set(label, { who, at: Date.now() });
      this.log.error({ stream, fill: round(fill), blockers }, error);
    }
    degradations.report(
      component,
      'broker',
      `stream ${label} nearly full, trimming blocked by ${blockers.map((b) => b.durable).join(', ')}`,
      error,
    );
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
