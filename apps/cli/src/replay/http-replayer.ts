import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { loadConfig } from '@app/config';
import type { Progress } from '../output/progress';

/** How long a feedback whose conversion is not decided yet is retried before it counts as failed. */
const FEEDBACK_RETRY_MS = 60_000;
/** Feedback requests waiting for their conversions' decisions at once, while later slices go on. */
const FEEDBACK_IN_FLIGHT = 32;

export interface ReplayTarget {
  gateway: string;
  api: string;
  adminKey: string;
}

export interface ReplayResult {
  sent: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  failed: number;
  seconds: number;
  eventsPerSecond: number;
  firstErrors: string[];
}

/** `--gateway`, `--api`, `--admin-key` for commands that drive a running engine. */
export function replayTargetOptions(command: Command): Command {
  return command
    .option('--gateway <url>', 'the engine gateway (default: http://127.0.0.1:$GATEWAY_PORT)')
    .option('--api <url>', 'the engine API (default: http://127.0.0.1:$API_PORT)')
    .option('--admin-key <key>', 'admin API key (default: $ARBITER_ADMIN_KEY, else .arbiter/admin-key)');
}

export async function resolveReplayTarget(o: { gateway?: string; api?: string; adminKey?: string }): Promise<ReplayTarget> {
  const config = loadConfig(process.env);
  const keyFile = resolve(config.ARBITER_DATA_DIR, 'admin-key');
  const adminKey = o.adminKey ?? config.ARBITER_ADMIN_KEY ?? (existsSync(keyFile) ? readFileSync(keyFile, 'utf8').trim() : undefined);
  if (!adminKey)
    throw new Error('no admin key: pass --admin-key, set ARBITER_ADMIN_KEY, or run where `arbiter start` wrote .arbiter/admin-key');
  return {
    gateway: o.gateway ?? `http://127.0.0.1:${config.GATEWAY_PORT}`,
    api: o.api ?? `http://127.0.0.1:${config.API_PORT}`,
    adminKey,
  };
}

type Line = { kind?: string } & Record<string, unknown>;

/**
 * Sends a traffic file (or the simulator's stream) into a running engine through its public
 * doors: the catalog through the admin API, clicks and conversions through the gateway in
 * batches, feedback with each advertiser's own key. Order is kept slice by slice: within a slice,
 * clicks go before conversions and conversions before feedback.
 *
 * A feedback can only be sent once the engine has decided its conversion, which takes the engine a
 * pipeline's latency after the conversion was accepted. Feedback therefore waits in the background
 * (at most {@link FEEDBACK_IN_FLIGHT} at once, a conversion's feedback in file order) while later
 * slices are sent: a replay takes one such latency in all, not one per slice holding feedback.
 */
export class HttpReplayer {
  private readonly advertiserKeys = new Map<string, string>();
  private readonly offerAdvertiser = new Map<string, string>();
  private readonly clickOffer = new Map<string, string>();
  private readonly conversionOffer = new Map<string, string>();
  /** Feedback being sent, and for each conversion the last of its feedback still in flight. */
  private readonly feedbackInFlight = new Set<Promise<void>>();
  private readonly lastFeedbackOf = new Map<string, Promise<void>>();
  /** The first error a background feedback request threw (the gateway unreachable): `send` throws it. */
  private feedbackError: unknown;
  private readonly batch: number;

  constructor(
    private readonly target: ReplayTarget,
    private readonly options: { rate?: number; batch?: number } = {},
  ) {
    this.batch = options.batch ?? 500;
  }

  /** Creates (or updates) the catalog of a `catalog` line. */
  async seed(catalog: Line): Promise<void> {
    for (const [path, items] of [
      ['advertisers', catalog.advertisers],
      ['offers', catalog.offers],
      ['publishers', catalog.publishers],
    ] as const) {
      for (const item of (items as Record<string, unknown>[] | undefined) ?? []) {
        await this.admin(`/v1/admin/${path}`, item);
        if (path === 'offers') this.offerAdvertiser.set(item.id as string, item.advertiserId as string);
      }
    }
  }

  async send(events: Iterable<Line> | AsyncIterable<Line>, bar?: Progress): Promise<ReplayResult> {
    const result: ReplayResult = {
      sent: 0,
      accepted: 0,
      duplicates: 0,
      rejected: 0,
      failed: 0,
      seconds: 0,
      eventsPerSecond: 0,
      firstErrors: [],
    };
    const started = performance.now();
    let slice: Line[] = [];
    const flush = async () => {
      if (!slice.length) return;
      if (this.options.rate) {
        const due = started + (result.sent / this.options.rate) * 1000;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      const current = slice;
      slice = [];
      await this.sendSlice(current, result);
      bar?.update(result.sent);
    };
    for await (const line of events) {
      if (line.kind === 'catalog') {
        await this.seed(line);
        continue;
      }
      slice.push(line);
      if (slice.length >= this.batch) await flush();
    }
    await flush();
    await Promise.all(this.feedbackInFlight);
    bar?.stop();
    if (this.feedbackError !== undefined) throw this.feedbackError;
    result.seconds = Math.round((performance.now() - started) / 10) / 100;
    result.eventsPerSecond = Math.round(result.sent / Math.max(result.seconds, 0.001));
    return result;
  }

  private async sendSlice(slice: Line[], result: ReplayResult): Promise<void> {
    const clicks = slice.filter((e) => e.kind === 'click');
    const conversions = slice.filter((e) => e.kind === 'conversion');
    const feedback = slice.filter((e) => e.kind === 'feedback');
    for (const c of clicks) this.clickOffer.set(c.id as string, c.offerId as string);
    for (const c of conversions) {
      const offer = (c.offerId as string | undefined) ?? this.clickOffer.get(c.clickId as string);
      if (offer) this.conversionOffer.set(c.id as string, offer);
    }
    await this.post('/v1/clicks', clicks, result);
    await this.post('/v1/conversions', conversions, result);
    for (const f of feedback) await this.queueFeedback(f, result);
    result.sent += slice.length;
  }

  /** Starts sending one feedback after its conversion's earlier ones; waits while too many are in flight. */
  private async queueFeedback(f: Line, result: ReplayResult): Promise<void> {
    if (this.feedbackError !== undefined) throw this.feedbackError;
    while (this.feedbackInFlight.size >= FEEDBACK_IN_FLIGHT) await Promise.race(this.feedbackInFlight);
    const conversionId = f.conversionId as string;
    const sent = (this.lastFeedbackOf.get(conversionId) ?? Promise.resolve())
      .then(() => this.sendFeedback(f, result))
      .catch((e: unknown) => {
        this.feedbackError ??= e;
      });
    const tracked = sent.finally(() => {
      this.feedbackInFlight.delete(tracked);
      if (this.lastFeedbackOf.get(conversionId) === tracked) this.lastFeedbackOf.delete(conversionId);
    });
    this.feedbackInFlight.add(tracked);
    this.lastFeedbackOf.set(conversionId, tracked);
  }

  private async post(path: string, items: Line[], result: ReplayResult): Promise<void> {
    if (!items.length) return;
    const body = JSON.stringify(items.map(({ kind: _k, ...rest }) => rest));
    for (let attempt = 0; ; attempt++) {
      // The admin key: a file's times, labels and payouts are the admin's to assert (DESIGN §3a).
      const res = await fetch(`${this.target.gateway}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${this.target.adminKey}` },
        body,
      });
      const out = (await res.json()) as { results?: { status: string; duplicate?: boolean; errors?: unknown }[] };
      if (res.status === 503 && attempt < 5) {
        await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
        continue;
      }
      for (const r of out.results ?? []) {
        if (r.status === 'accepted') {
          result.accepted++;
          if (r.duplicate) result.duplicates++;
        } else if (r.status === 'rejected') {
          result.rejected++;
          if (result.firstErrors.length < 5) result.firstErrors.push(JSON.stringify(r.errors));
        } else result.failed++;
      }
      return;
    }
  }

  /**
   * Feedback comes from the conversion's advertiser. A conversion not decided yet (404) or a full
   * stream (503) is retried, waiting 0.2 s doubling to 5 s, for up to a minute: an engine still
   * working through the file's earlier events (a busy machine, a large replay) decides it later.
   */
  private async sendFeedback(f: Line, result: ReplayResult): Promise<void> {
    const offer = this.conversionOffer.get(f.conversionId as string);
    const advertiser = offer ? this.offerAdvertiser.get(offer) : undefined;
    const key = advertiser ? await this.advertiserKey(advertiser) : this.target.adminKey;
    const { kind: _k, ...body } = f;
    const giveUpAt = performance.now() + FEEDBACK_RETRY_MS;
    for (let attempt = 0; ; attempt++) {
      const res = await fetch(`${this.target.gateway}/v1/feedback`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify(body),
      });
      if (res.status === 202) {
        result.accepted++;
        return;
      }
      if (res.status !== 404 && res.status !== 503) {
        result.rejected++;
        if (result.firstErrors.length < 5) result.firstErrors.push(`feedback: ${res.status} ${await res.text()}`);
        return;
      }
      if (performance.now() >= giveUpAt) break;
      await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** attempt, 5_000)));
    }
    result.failed++;
  }

  private async advertiserKey(advertiserId: string): Promise<string> {
    let key = this.advertiserKeys.get(advertiserId);
    if (!key) {
      const res = await this.admin('/v1/admin/api-keys', { role: 'advertiser', subjectId: advertiserId, label: 'arbiter replay' });
      key = (res as { key: string }).key;
      this.advertiserKeys.set(advertiserId, key);
    }
    return key;
  }

  private async admin(path: string, body: unknown): Promise<unknown> {
    const res = await fetch(`${this.target.api}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.target.adminKey}` },
      body: JSON.stringify(body),
    });
    if (res.status >= 300) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return res.json();
  }
}
