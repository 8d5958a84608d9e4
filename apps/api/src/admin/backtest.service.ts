import { randomBytes } from 'node:crypto';
import { Inject, Injectable, NotFoundException, OnApplicationShutdown } from '@nestjs/common';
import { ARBITER_CONFIG, ArbiterConfig } from '@app/config';
import { Backtester, BacktestCancelled } from '@app/backtest';
import type { ModelRuntime } from '@app/model';
import { componentLogger } from '@app/observability';
import { RuleSetResolver } from '@app/rules';
import { CandidateSpec, RuleSetStore, scopeLabel } from '@app/live-config';
import { BacktestJob, BacktestJobRepository } from '@app/storage';
import { candidateOf, trialError } from './candidates';

/** Loads the model that decides live (null: rules only). */
export const ACTIVE_MODEL = Symbol('ACTIVE_MODEL');
export type ActiveModelLoader = () => Promise<ModelRuntime | null>;

export interface BacktestRequest {
  from: Date;
  to: Date;
  warmupHours?: number;
  candidate: CandidateSpec;
}

/** Too many backtests at once (they share the API's CPU). */
export class BacktestBusyError extends Error {
  constructor(readonly running: number) {
    super(`${running} backtests are running; wait for one to finish`);
    this.name = 'BacktestBusyError';
  }
}

export class BacktestRangeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BacktestRangeError';
  }
}

// Each job scores every event twice on the API's own CPU: a couple at a time is plenty.
const MAX_RUNNING = 2;
const MAX_RANGE_DAYS = 366;
// Progress is written about this often (a row update), not per page.
const PROGRESS_EVERY_MS = 1000;

/**
 * Backtest jobs: builds the candidate beside the active rule set, counts the range, starts the
 * replay in the background and keeps its progress and answer in the database, where a poll from
 * any API instance reads them.
 */
@Injectable()
export class BacktestService implements OnApplicationShutdown {
  private stopping = false;
  private readonly runs = new Set<Promise<void>>();
  private readonly log = componentLogger('backtest');

  constructor(
    @Inject(ARBITER_CONFIG) private readonly config: ArbiterConfig,
    private readonly store: RuleSetStore,
    private readonly jobs: BacktestJobRepository,
    private readonly backtester: Backtester,
    @Inject(ACTIVE_MODEL) private readonly activeModel: ActiveModelLoader,
  ) {}

  /** An admin's request (ISO-8601 range, candidate as scope + layer or a whole configuration): 400 or 429 as HTTP answers. */
  async startRequested(
    body: { from: string; to: string; warmupHours?: number; scope?: string; ruleset: Record<string, unknown> | null },
    actor: string,
  ): Promise<BacktestJob> {
    try {
      return await this.start(
        { from: new Date(body.from), to: new Date(body.to), warmupHours: body.warmupHours, candidate: candidateOf(body) },
        actor,
      );
    } catch (e) {
      throw trialError(e);
    }
  }

  /** Validates and starts a job; throws RuleSetError, BacktestRangeError, BacktestBusyError. */
  async start(request: BacktestRequest, actor: string | null): Promise<BacktestJob> {
    const { from, to } = request;
    if (!(from < to)) throw new BacktestRangeError('from must be before to');
    if (to.getTime() - from.getTime() > MAX_RANGE_DAYS * 86_400_000)
      throw new BacktestRangeError(`a backtest covers at most ${MAX_RANGE_DAYS} days`);
    const warmupHours = request.warmupHours ?? this.config.SCORER_REPLAY_HOURS;
    const warmupFrom = new Date(from.getTime() - warmupHours * 3600_000);
    const { config, active, diff } = await this.store.candidate(request.candidate);
    const running = await this.jobs.running();
    if (running >= MAX_RUNNING) throw new BacktestBusyError(running);
    const model = await this.activeModel();
    const total = await this.backtester.count({ from: warmupFrom, to });
    const id = `bt_${randomBytes(8).toString('hex')}`;
    const summary = {
      from: from.toISOString(),
      to: to.toISOString(),
      warmupHours,
      activeVersion: active.version,
      candidate: 'config' in request.candidate ? 'configuration' : scopeLabel(request.candidate.scope),
      changes: diff,
    };
    await this.jobs.create(id, summary, total, actor);
    const run = this.run(id, {
      from,
      to,
      warmupFrom,
      active: new RuleSetResolver(active),
      candidate: new RuleSetResolver(config),
      model,
      // The live scorer's bound on clicks held for attribution: the same evictions, the same memory per side.
      features: { maxClicks: this.config.SCORER_MAX_CLICKS },
    })
      .catch((e) => this.log.error({ err: e, job: id }, 'backtest bookkeeping failed'))
      .finally(() => this.runs.delete(run));
    this.runs.add(run);
    return (await this.jobs.find(id))!;
  }

  /** One job by the id it was given (404 for an unknown or malformed id). */
  async find(id: string): Promise<BacktestJob> {
    const job = /^bt_[0-9a-f]{16}$/.test(id) ? await this.jobs.find(id) : null;
    if (!job) throw new NotFoundException({ error: 'not_found', message: `no backtest ${id}` });
    return job;
  }

  list(limit: number): Promise<BacktestJob[]> {
    return this.jobs.list(limit);
  }

  /** Running jobs stop at the next page; their rows say they failed (interrupted). */
  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.runs);
  }

  private async run(id: string, input: Parameters<Backtester['run']>[0]): Promise<void> {
    let written = Date.now();
    let pending: Promise<void> = Promise.resolve();
    try {
      const result = await this.backtester.run(
        input,
        (done) => {
          if (Date.now() - written < PROGRESS_EVERY_MS) return;
          written = Date.now();
          pending = pending.then(() => this.jobs.progress(id, done)).catch(() => undefined);
        },
        () => this.stopping,
      );
      await pending;
      await this.jobs.finish(id, result);
      this.log.info(
        { job: id, events: result.events, changed: result.conversions.changed, eventsPerSecond: result.eventsPerSecond },
        'backtest done',
      );
    } catch (e) {
      await pending;
      const message = e instanceof BacktestCancelled ? 'interrupted: the API stopped' : (e as Error).message;
      this.log.warn({ err: e, job: id }, 'backtest failed');
      await this.jobs.fail(id, message);
    }
  }
}
