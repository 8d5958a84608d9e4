import { Injectable } from '@nestjs/common';
import { ClickEvent, ConversionEvent, FeedbackEvent, feedbackKey } from '@app/contracts';
import { componentLogger, degradations, metrics } from '@app/observability';
import { OutcomeRepository } from '@app/storage';
import { RecorderProgress } from './recorder-progress';

/**
 * What the scorer does with an event that may have been scored before and whose outcome it no
 * longer remembers: `recorded` — it was, and the recorder wrote the outcome from the published one:
 * nothing to publish or count again; `wait` — the recorder has not caught up with what was
 * published since: ask for the event again later; `score` — nothing was ever published for it.
 */
export type Redelivered = 'recorded' | 'wait' | 'score';

/**
 * An event's key in the answers and among the waiting: click and conversion ids are separate id
 * spaces (an advertiser may use the click's id as its conversion's id); a feedback is itself on its
 * conversion (`feedbackKey`).
 */
export function redeliveryKey(e: { kind: string; id: string; conversionId?: string }): string {
  return e.kind === 'feedback' ? `feedback:${feedbackKey(e as FeedbackEvent)}` : `${e.kind}:${e.id}`;
}

/**
 * How long an event waits for the recorder before it is scored anyway (with a warning, counted
 * `score_after_wait`). Waiting events stay pending on the scorer's consumer: a recorder stopped or
 * far behind would otherwise fill its `max_ack_pending` and stop the partition's scoring altogether.
 * The recorder normally trails VERDICTS by well under a second, and a restarted one catches up in
 * seconds; five minutes is some ten of the back-off's 30 s rounds. Past it, an outcome published
 * but not recorded may be counted and published a second time: the lesser harm than no scoring.
 */
export const MAX_WAIT_MS = 5 * 60_000;
/** An event waiting longer than this marks the scorer degraded on /health ("waiting for the recorder"). */
export const WAIT_DEGRADED_MS = 30_000;
const DEGRADED_COMPONENT = 'scorer redelivery';

/** Events waiting for the recorder that are tracked; past it the oldest marks are forgotten (they wait one round more). */
const MAX_WAITING = 100_000;

/**
 * The slow path for redelivered events (and clicks sent again): looks their outcomes up in the
 * database instead of scoring them a second time (docs/trust.md, "Redelivered events").
 */
@Injectable()
export class RedeliveryResolver {
  /**
   * Event (`redeliveryKey`) → VERDICTS' last sequence when its outcome was first found unrecorded
   * (null: no recorder durable then), and when that was (ms).
   */
  private readonly waiting = new Map<string, { since: number | null; at: number }>();
  /** The clock (tests move it). */
  now: () => number = Date.now;
  private noRecorderLogged = false;
  private readonly log = componentLogger('scorer');

  constructor(
    private readonly outcomes: OutcomeRepository,
    private readonly progress: RecorderProgress,
  ) {}

  /**
   * The answers, keyed by `redeliveryKey`. `sentAgain`: the events of `events` that came as a new
   * message (first delivery) under an id scored before, a click its sender sent again; answered from
   * the record they are counted `resent`, since heavy reuse of ids is itself a signal (an
   * integration error, or fraud). `heldAt`: for clicks the scorer holds, the time of the click it
   * holds (the first one: a click sent again is not observed), which its recorded verdict carries.
   */
  async resolve(
    events: readonly (ClickEvent | ConversionEvent | FeedbackEvent)[],
    sentAgain: ReadonlySet<ClickEvent | ConversionEvent> = new Set(),
    heldAt: ReadonlyMap<ClickEvent, string> = new Map(),
  ): Promise<Map<string, Redelivered>> {
    // First the recorder's progress, then the database: an outcome recorded in between is seen.
    const progress = await this.progress.read();
    const clicks = events.filter((e): e is ClickEvent => e.kind === 'click');
    const conversions = events.filter((e) => e.kind === 'conversion').map((e) => e.id);
    const feedback = events.filter((e): e is FeedbackEvent => e.kind === 'feedback');
    const [verdicts, decisions, revisions] = await Promise.all([
      this.outcomes.recordedVerdicts(
        clicks.flatMap((c) => {
          const held = heldAt.get(c);
          // A click sent again through the gateway has a new time (its receipt); its verdict, the first one's.
          return held && held !== c.ts
            ? [
                { id: c.id, ts: c.ts },
                { id: c.id, ts: held },
              ]
            : [{ id: c.id, ts: c.ts }];
        }),
      ),
      this.outcomes.decidedConversions(conversions),
      // A feedback's outcome is the revision it made; one that changed nothing has none and is applied again (trust.md's limits).
      this.outcomes.recordedFeedback(feedback),
    ]);
    const answers = new Map<string, Redelivered>();
    const counts = { recorded: 0, resent: 0, wait: 0, score: 0, score_after_wait: 0 };
    const now = this.now();
    let longestWait = 0;
    for (const e of events) {
      const key = redeliveryKey(e);
      const recorded =
        e.kind === 'click' ? verdicts.has(e.id) : e.kind === 'conversion' ? decisions.has(e.id) : revisions.has(feedbackKey(e));
      const answer = this.answer(key, recorded, progress, now);
      answers.set(key, answer === 'score_after_wait' ? 'score' : answer);
      const label = answer === 'recorded' && e.kind !== 'feedback' && sentAgain.has(e) ? 'resent' : answer;
      counts[label]++;
      metrics.redelivered.labels(e.kind, label).inc();
      if (answer === 'wait') longestWait = Math.max(longestWait, now - this.waiting.get(key)!.at);
    }
    this.log.debug({ ...counts, progress }, 'redelivered events no longer remembered');
    if (counts.score_after_wait) {
      this.log.warn(
        { events: counts.score_after_wait, progress, waitedMs: MAX_WAIT_MS },
        'redelivered events scored after waiting for the recorder: an outcome published but not recorded is counted and published again',
      );
    }
    // Waiting events stay pending on the partition: say so while it lasts, cleared at the next batch that waits no longer.
    if (longestWait >= WAIT_DEGRADED_MS) {
      degradations.report(
        DEGRADED_COMPONENT,
        'recorder',
        'waiting for the recorder',
        `redelivered events wait for the recorder-verdicts consumer to record VERDICTS (${Math.round(longestWait / 1000)} s so far; ` +
          `scored anyway after ${MAX_WAIT_MS / 1000} s): is the recorder running?`,
      );
    } else degradations.clear(DEGRADED_COMPONENT);
    if (!progress && !this.noRecorderLogged) {
      this.noRecorderLogged = true;
      this.log.warn(
        `no recorder consumes VERDICTS (no recorder-verdicts durable): a redelivered event not recorded waits for one, at most ${MAX_WAIT_MS / 1000} s`,
      );
    }
    return answers;
  }

  private answer(
    key: string,
    recorded: boolean,
    progress: { published: number; recorded: number } | null,
    now: number,
  ): Redelivered | 'score_after_wait' {
    if (recorded) {
      this.waiting.delete(key);
      return 'recorded';
    }
    let waiting = this.waiting.get(key);
    if (!waiting) {
      if (this.waiting.size >= MAX_WAITING) this.waiting.delete(this.waiting.keys().next().value!);
      waiting = { since: progress?.published ?? null, at: now };
      this.waiting.set(key, waiting);
    }
    if (progress) {
      // VERDICTS re-created (its sequence restarted below the one remembered): whatever was published
      // before went with the old stream; the new stream's last sequence is where to wait to.
      // Unknown (no recorder durable when it first came back): from now, later than anything published for it.
      if (waiting.since === null || progress.published < waiting.since) waiting.since = progress.published;
      // Whatever was published for it was published before it was first found unrecorded: once the
      // recorder has recorded everything up to then and the outcome is still missing, there was none.
      if (progress.recorded >= waiting.since) {
        this.waiting.delete(key);
        return 'score';
      }
    }
    // No recorder durable (not created yet, or deleted a moment ago): waited for like one behind.
    if (now - waiting.at >= MAX_WAIT_MS) {
      this.waiting.delete(key);
      return 'score_after_wait';
    }
    return 'wait';
  }
}
