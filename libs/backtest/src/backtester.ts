import type { ConversionEvent } from '@app/contracts';
import { CatalogView, ScoringEngine } from '@app/decisions';
import type { ClickRecord, FeatureStateOptions } from '@app/features';
import type { ModelRuntime } from '@app/model';
import type { RuleSetResolver } from '@app/rules';
import { attributionRecord } from '@app/storage';
import type { HistoricalEvent, HistoryRange, StoredClick } from '@app/storage';
import { BacktestReport, BacktestResult } from './backtest-report';

/** The catalog as the live scorer sees it, with the look-up of ids it does not hold yet. */
export interface ResolvingCatalog extends CatalogView {
  resolve(ids: { offers?: Iterable<string>; publishers?: Iterable<string> }): Promise<void>;
}

/** Where stored events come from, page by page in stream order. */
export interface EventHistory {
  count(range: HistoryRange): Promise<number>;
  stream(range: HistoryRange, pageSize?: number): AsyncIterable<HistoricalEvent[]>;
}

/** Stored clicks, for conversions whose click is older than the replayed window (as the live scorer looks them up). */
export interface ClickLookup {
  findClicks(ids: readonly string[]): Promise<Map<string, StoredClick>>;
}

export interface BacktestInput {
  /** Events with `ts` in [from, to) are compared. */
  from: Date;
  to: Date;
  /** Events from here to `from` only rebuild the windows (what a restarted scorer replays). */
  warmupFrom: Date;
  active: RuleSetResolver;
  candidate: RuleSetResolver;
  /** The model that decides live (null: rules only); both sides use it. */
  model: ModelRuntime | null;
  features?: Partial<FeatureStateOptions>;
}

export interface BacktestOutcome extends BacktestResult {
  range: { from: string; to: string; warmupFrom: string };
  activeVersion: string;
  candidateVersion: string;
  modelVersion: string | null;
  seconds: number;
  /** Stored events read and scored (twice: active and candidate) per second, warm-up included. */
  eventsPerSecond: number;
}

export class BacktestCancelled extends Error {
  constructor() {
    super('backtest cancelled');
    this.name = 'BacktestCancelled';
  }
}

/**
 * Replays stored events through two scoring engines side by side, the active rule set and a
 * candidate: the live scorer's own code (ScoringEngine), fed the events exactly as the scorer
 * consumed them (stored envelope: receipt time, partition, IP country) in stream order, each
 * engine with its own windows, rebuilt from the warm-up before the range. Nothing after an event
 * is known when it is scored.
 */
export class Backtester {
  constructor(
    private readonly history: EventHistory,
    private readonly clicks: ClickLookup,
    private readonly catalog: ResolvingCatalog,
    /**
     * The deployment's distinct-count secret (`DeploymentSecretRepository`), as its scorers count
     * with it: without it, a replay's distinct counts, and so its model scores, would not be theirs.
     * Required, with no default: a forgotten secret would count with the public offline key, silently
     * (statuses agree while the model is advisory).
     */
    private readonly distinctSecret: string,
  ) {}

  /** Events a run over the range reads (warm-up included): the progress total. */
  count(range: HistoryRange): Promise<number> {
    return this.history.count(range);
  }

  async run(input: BacktestInput, progress?: (done: number) => void, cancelled: () => boolean = () => false): Promise<BacktestOutcome> {
    const started = performance.now();
    const engines = [input.active, input.candidate].map((rules) => {
      const engine = new ScoringEngine(rules, { features: { ...input.features, distinctSecret: this.distinctSecret } });
      engine.useModels(input.model, null);
      return engine;
    });
    const [active, candidate] = engines;
    const report = new BacktestReport();
    const from = input.from.getTime();
    let done = 0;
    let now = -Infinity;
    const pages = this.history.stream({ from: input.warmupFrom, to: input.to })[Symbol.asyncIterator]();
    // One page read ahead: the database reads the next page while this one is scored.
    let ahead = pages.next();
    try {
      for (;;) {
        const next = await ahead;
        if (next.done) break;
        const page = next.value;
        ahead = pages.next();
        if (cancelled()) throw new BacktestCancelled();
        const stored = await this.prepare(page, engines);
        for (const { event, label, recorded } of page) {
          const t = Date.parse(event.receivedAt);
          if (t > now) {
            now = t;
            // Holds resolve as time passes (their revisions are not compared); keeps memory bounded.
            for (const e of engines) e.expireHolds(now);
          }
          const warmup = Date.parse(event.ts) < from;
          if (event.kind === 'click') {
            const a = active.scoreClick(event, this.catalog, t);
            const c = candidate.scoreClick(event, this.catalog, t);
            if (warmup) report.warmup();
            else report.click(a, c, label, recorded);
          } else {
            const a = active.scoreConversion(event, this.catalog, clickFor(active, event, stored), t);
            const c = candidate.scoreConversion(event, this.catalog, clickFor(candidate, event, stored), t);
            if (warmup) report.warmup();
            else report.conversion(a, c, label, recorded);
          }
        }
        done += page.length;
        progress?.(done);
      }
    } finally {
      // Stopped early (cancelled, failed): let the page in flight land, then end the read (nothing is held between pages).
      await ahead.catch(() => undefined);
      await pages.return?.(undefined);
    }
    const seconds = (performance.now() - started) / 1000;
    return {
      range: { from: input.from.toISOString(), to: input.to.toISOString(), warmupFrom: input.warmupFrom.toISOString() },
      activeVersion: input.active.network.version,
      candidateVersion: input.candidate.network.version,
      modelVersion: input.model?.version ?? null,
      ...report.result(),
      seconds: Math.round(seconds * 1000) / 1000,
      eventsPerSecond: seconds > 0 ? Math.round(done / seconds) : done,
    };
  }

  /** As the live scorer before a batch: unknown catalog ids looked up, clicks no engine holds read from the database. */
  private async prepare(page: readonly HistoricalEvent[], engines: readonly ScoringEngine[]): Promise<Map<string, StoredClick>> {
    const here = new Set<string>();
    const offers = new Set<string>();
    const publishers = new Set<string>();
    const missing = new Set<string>();
    for (const { event } of page) {
      if (event.kind === 'click') {
        here.add(event.id);
        offers.add(event.offerId);
        publishers.add(event.publisherId);
      } else {
        if (event.offerId) offers.add(event.offerId);
        if (!here.has(event.clickId) && engines.some((e) => !e.holdsClick(event.clickId))) missing.add(event.clickId);
      }
    }
    const clicks = await this.clicks.findClicks([...missing]);
    for (const c of clicks.values()) {
      offers.add(c.offerId);
      publishers.add(c.publisherId);
    }
    await this.catalog.resolve({ offers, publishers });
    return clicks;
  }
}

function clickFor(engine: ScoringEngine, e: ConversionEvent, stored: Map<string, StoredClick>): ClickRecord | null {
  if (engine.holdsClick(e.clickId)) return null;
  return attributionRecord(stored.get(e.clickId));
}
