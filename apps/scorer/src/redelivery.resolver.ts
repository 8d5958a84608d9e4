import { Injectable } from '@nestjs/common';
import type { ClickEvent, ConversionEvent } from '@app/contracts';
import { componentLogger, metrics } from '@app/observability';
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
 * spaces (an advertiser may use the click's id as its conversion's id).
 */
export function redeliveryKey(e: { kind: string; id: string }): string {
  return `${e.kind}:${e.id}`;
}

/** Events waiting for the recorder that are tracked; past it the oldest marks are forgotten (they wait one round more). */
const MAX_WAITING = 100_000;

/**
 * The slow path for redelivered events (and clicks sent again): looks their outcomes up in the
 * database instead of scoring them a second time (docs/trust.md, "Redelivered events").
 */
@Injectable()
export class RedeliveryResolver {
  /** Event (`redeliveryKey`) → VERDICTS' last sequence when its outcome was first found unrecorded. */
  private readonly waiting = new Map<string, number>();
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
   * integration error, or fraud).
   */
  async resolve(
    events: readonly (ClickEvent | ConversionEvent)[],
    sentAgain: ReadonlySet<ClickEvent | ConversionEvent> = new Set(),
  ): Promise<Map<string, Redelivered>> {
    // First the recorder's progress, then the database: an outcome recorded in between is seen.
    const progress = await this.progress.read();
    const clicks = events.filter((e): e is ClickEvent => e.kind === 'click');
    const conversions = events.filter((e) => e.kind === 'conversion').map((e) => e.id);
    const [verdicts, decisions] = await Promise.all([
      this.outcomes.recordedVerdicts(clicks.map((c) => ({ id: c.id, ts: c.ts, minted: c.idMinted === true }))),
      this.outcomes.decidedConversions(conversions),
    ]);
    const answers = new Map<string, Redelivered>();
    const counts = { recorded: 0, resent: 0, wait: 0, score: 0 };
    for (const e of events) {
      const key = redeliveryKey(e);
      const answer = this.answer(key, (e.kind === 'click' ? verdicts : decisions).has(e.id), progress);
      answers.set(key, answer);
      const label = answer === 'recorded' && sentAgain.has(e) ? 'resent' : answer;
      counts[label]++;
      metrics.redelivered.labels(e.kind, label).inc();
    }
    this.log.debug({ ...counts, progress }, 'redelivered events no longer remembered');
    if (!progress && !this.noRecorderLogged) {
      this.noRecorderLogged = true;
      this.log.warn('no recorder consumes VERDICTS: a redelivered event not recorded is scored again');
    }
    return answers;
  }

  private answer(key: string, recorded: boolean, progress: { published: number; recorded: number } | null): Redelivered {
    if (recorded) {
      this.waiting.delete(key);
      return 'recorded';
    }
    if (!progress) return 'score';
    // Whatever was published for it was published before it was first found unrecorded: once the
    // recorder has recorded everything up to then and the outcome is still missing, there was none.
    const since = this.waiting.get(key) ?? progress.published;
    if (progress.recorded >= since) {
      this.waiting.delete(key);
      return 'score';
    }
    if (!this.waiting.has(key)) {
      if (this.waiting.size >= MAX_WAITING) this.waiting.delete(this.waiting.keys().next().value!);
      this.waiting.set(key, progress.published);
    }
    return 'wait';
  }
}
