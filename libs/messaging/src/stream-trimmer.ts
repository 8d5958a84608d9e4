import { OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import type { ConsumerInfo, JetStreamManager } from '@nats-io/jetstream';
import type { ArbiterConfig } from '@app/config';
import type { Topology } from '@app/contracts';
import { Logger, componentLogger, degradations, metrics } from '@app/observability';
import { consumerSpecs, engineDurables } from './consumer-spec';
import { PeriodicRound } from './periodic-round';

/** How often each stream's fill is read (a stream info each); consumers are listed only above TRIM_ABOVE. */
export const TRIM_EVERY_MS = 5_000;
/** Trimming starts above this share of max_bytes (or max_msgs)... */
export const TRIM_ABOVE = 0.9;
/** ...and purges back down to about this share, keeping the rest as history (the scorer's rebuild reads EVENTS). */
export const TRIM_DOWN_TO = 0.75;

const ERROR_LOG_EVERY_MS = 60_000;
/**
 * A blocker is reported on /health once it blocked two rounds in a row (a notifier's or scorer's ack
 * floor trails by a message in flight for a moment), or at once when the stream is above this (close
 * to refusing publishes).
 */
export const REPORT_AT_ONCE_ABOVE = 0.95;
/** Consumer infos asked for at once. */
const INFO_CONCURRENCY = 32;

/** A durable that keeps a nearly full stream from being trimmed far enough: it has not acknowledged what would go. */
export interface TrimBlocker {
  durable: string;
  /** Messages not yet delivered to it plus delivered and not acknowledged. */
  backlog: number;
  /** The first stream sequence it may still need. */
  keepFrom: number;
  /** False for a durable the engine's configuration does not have (e.g. `scorer-p3` after lowering ARBITER_PARTITIONS). */
  known: boolean;
  /**
   * `behind`: its state says so. `absent`: the configuration has it and it does not exist (not
   * created yet: a scorer partition whose scorer has not started, a durable being recreated); it
   * will read the stream from its first message. `unknown`: its state could not be read (an error,
   * an offline replica set on a cluster): nothing is purged this round. Both keep the whole stream;
   * their backlog is the stream's message count.
   */
  state: 'behind' | 'absent' | 'unknown';
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
// The idle case trusts num_pending to be current; nats-server counts a just-stored message in it a
// moment later (its signal loop). Harmless: a purge never goes past `wanted`, the oldest messages
// above TRIM_DOWN_TO, far below the stream's last sequence.
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
  private readonly rounds = new PeriodicRound(TRIM_EVERY_MS, () => this.trimAll());
  private readonly log: Logger = componentLogger('stream-trimmer');
  private readonly durables: Set<string>;
  /** The durables the configuration reads each stream with (every scorer partition, the recorder, the notifier). */
  private readonly expected = new Map<string, Set<string>>();
  /** The blockers of each stream's previous round (hysteresis of the /health report). */
  private readonly lastRound = new Map<string, Set<string>>();
  /** Durables reported as blocking, per stream (to clear their gauge once they no longer do). */
  private readonly blocking = new Map<string, Set<string>>();
  /** When the blocking durables of a stream were last logged, and which. */
  private readonly said = new Map<string, { who: string; at: number }>();

  constructor(
    private readonly jsm: JetStreamManager,
    private readonly topology: Topology,
    config: ArbiterConfig,
    /** False for a one-off trim (provisioning): blockers are logged, not left on this process's /health and metrics. */
    private readonly reporting = true,
  ) {
    this.durables = engineDurables(topology, config);
    for (const spec of [...consumerSpecs(topology, { ...config, SCORER_PARTITIONS: 'all' }).values()].flat()) {
      if (!this.expected.has(spec.stream)) this.expected.set(spec.stream, new Set());
      this.expected.get(spec.stream)!.add(spec.durable);
    }
  }

  /** Logical name (the metrics' `stream` label) → the namespaced stream name. */
  static streams(topology: Topology): [string, string][] {
    return [
      ['EVENTS', topology.streams.events],
      ['VERDICTS', topology.streams.verdicts],
    ];
  }

  onApplicationBootstrap(): void {
    this.rounds.start();
  }

  async onModuleDestroy(): Promise<void> {
    await this.rounds.stop();
  }

  /** Trims both streams once; never throws (a failure is logged and tried again next round). */
  async trimAll(): Promise<TrimResult[]> {
    const results: TrimResult[] = [];
    for (const [label, name] of StreamTrimmer.streams(this.topology)) {
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

    // Every consumer by name (CONSUMER.NAMES: complete on a cluster, where CONSUMER.LIST can leave
    // out a consumer whose leader did not answer, or give an offline one's state as zeroes), then
    // each one's own info. A consumer whose state cannot be read, or that the configuration has and
    // does not exist, keeps the whole stream this round.
    const expected = this.expected.get(stream) ?? new Set<string>();
    const names = await consumerNames(this.jsm, stream);
    const infos = await infosOf(this.jsm, stream, names);
    const held: TrimBlocker[] = [];
    let safe = state.last_seq + 1;
    const whole = (durable: string, why: TrimBlocker['state']) => {
      safe = state.first_seq;
      held.push({ durable, backlog: state.messages, keepFrom: state.first_seq, known: this.durables.has(durable), state: why });
    };
    for (const name of expected) if (!names.includes(name)) whole(name, 'absent');
    for (const [name, got] of infos) {
      if (got instanceof Error) {
        if (isNotFound(got)) {
          // Deleted since it was named: nothing to keep for it, unless the configuration reads with it.
          if (expected.has(name)) whole(name, 'absent');
        } else whole(name, 'unknown');
        continue;
      }
      // Ephemeral readers (the scorer's rebuild, a CLI) take what is there; durables are owed every message.
      if (!got.config?.durable_name) continue;
      if (!knownState(got)) {
        whole(name, 'unknown');
        continue;
      }
      const keep = keepFrom(got, state.last_seq);
      safe = Math.min(safe, keep);
      if (keep < wanted)
        held.push({
          durable: name,
          backlog: got.num_pending + got.num_ack_pending,
          keepFrom: keep,
          known: this.durables.has(name),
          state: 'behind',
        });
    }

    const upTo = Math.min(safe, wanted);
    let purged = 0;
    if (upTo > state.first_seq) {
      purged = (await this.jsm.streams.purge(stream, { seq: upTo })).purged;
      if (purged) metrics.streamTrimmed.labels(label).inc(purged);
      this.log.info({ stream, purged, upTo, fill: round(fill) }, 'trimmed messages every durable had acknowledged');
    }
    const blockers = held;
    this.report(stream, label, blockers, fill);
    return { stream, fill, purged, blockers };
  }

  private report(stream: string, label: string, blockers: TrimBlocker[], fill = 0): void {
    if (!this.reporting) {
      if (blockers.length)
        this.log.warn(
          { stream, fill: round(fill), blockers },
          `${stream} could not be trimmed past what ${blockers.map((b) => b.durable).join(', ')} needs`,
        );
      return;
    }
    const component = `stream ${label}`;
    const before = this.blocking.get(label) ?? new Set<string>();
    for (const d of before) if (!blockers.some((b) => b.durable === d)) metrics.streamTrimBlocked.labels(label, d).set(0);
    this.blocking.set(label, new Set(blockers.map((b) => b.durable)));
    if (!blockers.length) {
      this.said.delete(label);
      this.lastRound.delete(label);
      if (degradations.clear(component)) this.log.info({ stream }, 'the stream can be trimmed again');
      return;
    }
    for (const b of blockers) metrics.streamTrimBlocked.labels(label, b.durable).set(b.backlog);
    const names = blockers.map((b) => `${b.durable} (${describe(b)})`).join(', ');
    const error = `${stream} is ${Math.round(fill * 100)} % full and cannot be trimmed past what ${names} has not acknowledged; when full, publishes are refused (ingest answers 503)`;
    // Hysteresis: a blocker of a single round (an ack floor trailing a message in flight) is not
    // reported unless the stream is close to refusing.
    const last = this.lastRound.get(label);
    this.lastRound.set(label, new Set(blockers.map((b) => b.durable)));
    if (fill < REPORT_AT_ONCE_ABOVE && !blockers.some((b) => last?.has(b.durable))) return;
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

function describe(b: TrimBlocker): string {
  if (b.state === 'absent') return 'the configuration reads with it and it does not exist yet: start the service that creates it';
  if (b.state === 'unknown') return 'its state could not be read: nothing is trimmed this round';
  return `${b.backlog} not acknowledged${b.known ? '' : '; not a consumer of this configuration: delete it if nothing reads it'}`;
}

/** Every consumer name of a stream, page by page (CONSUMER.NAMES; nats.js has no lister for it). */
async function consumerNames(jsm: JetStreamManager, stream: string): Promise<string[]> {
  const api = jsm as unknown as { prefix: string; _request(subj: string, data?: unknown): Promise<unknown> };
  const names: string[] = [];
  for (;;) {
    const page = (await api._request(`${api.prefix}.CONSUMER.NAMES.${stream}`, { offset: names.length })) as {
      total: number;
      consumers: string[] | null;
    };
    const got = page.consumers ?? [];
    names.push(...got);
    if (!got.length || names.length >= page.total) return names;
  }
}

/** Each named consumer's info, or the error asking for it gave. */
async function infosOf(jsm: JetStreamManager, stream: string, names: readonly string[]): Promise<Map<string, ConsumerInfo | Error>> {
  const out = new Map<string, ConsumerInfo | Error>();
  for (let i = 0; i < names.length; i += INFO_CONCURRENCY) {
    await Promise.all(
      names.slice(i, i + INFO_CONCURRENCY).map((name) =>
        jsm.consumers.info(stream, name).then(
          (info) => void out.set(name, info),
          (e: unknown) => void out.set(name, e instanceof Error ? e : new Error(String(e))),
        ),
      ),
    );
  }
  return out;
}

function isNotFound(e: Error): boolean {
  const err = e as { code?: unknown; api_error?: { err_code?: number } };
  return err.code === 10014 || err.api_error?.err_code === 10014 || e.name === 'ConsumerNotFoundError';
}

/**
 * Whether an info carries the state keepFrom reads. On a cluster, a consumer whose replicas are all
 * offline is answered with its configuration alone (zeroes in JSON: it would look idle), and one
 * without a leader has no current state.
 */
function knownState(c: ConsumerInfo): boolean {
  const has = (x: unknown) => typeof x === 'number' && Number.isFinite(x);
  if (!c.delivered || !c.ack_floor || !has(c.ack_floor.stream_seq) || !has(c.num_pending) || !has(c.num_ack_pending)) return false;
  return !c.cluster || !!c.cluster.leader;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
