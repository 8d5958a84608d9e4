import { feedbackKey } from '@app/contracts';
import type { ClickVerdict, Decision, EventKind } from '@app/contracts';
import { ScoringEngine } from '@app/decisions';
import { EventNormalizer } from '@app/ingest';
import { FileCatalog } from './file-catalog';

/** What a file line carries beyond the contract: the ground truth. */
export interface Truth {
  label?: 'fraud' | 'legit';
  pattern?: string;
}

export interface OfflineObserver {
  verdict?(v: ClickVerdict, truth: Truth): void;
  decision?(d: Decision, truth: Truth): void;
  /** A later revision: a hold resolving (timer) or feedback. */
  revision?(d: Decision): void;
  invalidLine?(line: number, message: string): void;
}

export interface OfflineSummary {
  lines: number;
  clicks: number;
  conversions: number;
  feedback: number;
  /** Feedback lines whose id came before on the same conversion: the same feedback, applied once (dropped). */
  feedbackRepeated: number;
  /** Feedback lines whose id came before on another conversion: a feedback of its own there, applied (as live). */
  feedbackIdsReused: number;
  invalid: number;
  openCatalog: boolean;
}

/**
 * Runs a traffic file through the same normalizer and scoring engine as the live scorer, with event
 * time as the clock: holds expire when the file's time passes them, feedback revises decisions.
 * Every event is received "at its own timestamp", so scores do not depend on when the file is read.
 */
export class OfflineRunner {
  readonly catalog = new FileCatalog();
  private readonly normalizer = new EventNormalizer({ partitions: 1, maxFutureSkewMs: 0 });

  constructor(readonly engine: ScoringEngine) {}

  async run(lines: AsyncIterable<{ line: number; value?: unknown; error?: string }>, observer: OfflineObserver): Promise<OfflineSummary> {
    const summary: OfflineSummary = {
      lines: 0,
      clicks: 0,
      conversions: 0,
      feedback: 0,
      feedbackRepeated: 0,
      feedbackIdsReused: 0,
      invalid: 0,
      openCatalog: true,
    };
    // Every feedback applied (by `feedbackKey`) and the conversion each id came on first: the engine
    // remembers only its last `rememberOutcomes`, a file is read whole.
    const applied = new Set<string>();
    const firstOn = new Map<string, string>();
    let now = -Infinity;
    for await (const { line, value, error } of lines) {
      summary.lines++;
      if (error || typeof value !== 'object' || value === null) {
        summary.invalid++;
        observer.invalidLine?.(line, error ?? `line ${line}: not an object`);
        continue;
      }
      const { kind, ...raw } = value as { kind?: unknown } & Record<string, unknown>;
      if (kind === 'catalog') {
        this.catalog.load(raw);
        continue;
      }
      if (kind !== 'click' && kind !== 'conversion' && kind !== 'feedback') {
        summary.invalid++;
        observer.invalidLine?.(line, `line ${line}: kind must be click, conversion, feedback or catalog`);
        continue;
      }
      const ts = typeof raw.ts === 'string' ? Date.parse(raw.ts) : NaN;
      const received = new Date(Number.isNaN(ts) ? Math.max(now, 0) : ts);
      const normalized = this.normalizer.normalize(kind as EventKind, raw, received);
      if (!normalized.ok) {
        summary.invalid++;
        observer.invalidLine?.(line, `line ${line}: ${normalized.errors.map((e) => `${e.field} ${e.message}`).join('; ')}`);
        continue;
      }
      const event = normalized.event;
      const t = received.getTime();
      if (t > now) {
        now = t;
        for (const d of this.engine.expireHolds(now)) observer.revision?.(d);
      }
      const truth = { label: raw.label as Truth['label'], pattern: raw.pattern as string | undefined };
      // Score first, then tell the observer: an observer that ignores clicks must not skip scoring them.
      if (event.kind === 'click') {
        summary.clicks++;
        const verdict = this.engine.scoreClick(event, this.catalog, t);
        observer.verdict?.(verdict, truth);
      } else if (event.kind === 'conversion') {
        summary.conversions++;
        const decision = this.engine.scoreConversion(event, this.catalog, null, t);
        observer.decision?.(decision, truth);
      } else {
        summary.feedback++;
        const key = feedbackKey(event);
        if (applied.has(key)) {
          summary.feedbackRepeated++;
          continue;
        }
        const first = firstOn.get(event.id);
        if (first === undefined) firstOn.set(event.id, event.conversionId);
        else if (first !== event.conversionId) summary.feedbackIdsReused++;
        const revised = this.engine.applyFeedback({ ...event, source: 'advertiser' }, null, t);
        // Applied once the engine says so, as live: before anything was decided it is not (a repeat
        // after the decision is applied then). The engine's memory of it is bounded; this set is not.
        if (this.engine.appliedFeedback(event)) applied.add(key);
        if (revised) observer.revision?.(revised);
      }
    }
    // Holds still open when the file ends resolve as if their time had come.
    for (const d of this.engine.expireHolds(Math.max(now, 0) + 91 * 86_400_000)) observer.revision?.(d);
    summary.openCatalog = this.catalog.isOpen;
    return summary;
  }
}
