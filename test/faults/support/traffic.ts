/**
 * Fault-injection harness, part 2: simulator traffic over HTTP, remembering what was ACCEPTED.
 *
 *   const { catalog, events } = simulate({ seed: 7, events: 3000 });   // clicks + conversions, time order
 *   await seedCatalog(cluster, catalog);                               // advertisers, offers, publishers (admin API)
 *   const sender = new Sender(cluster.gateway);
 *   await sender.send(events, { batch: 100, onBatch: (n) => n === 10 && cluster.kill('scorer') });
 *   sender.accepted.click / sender.accepted.conversion                 // Set<string> of accepted ids
 *
 * `send` posts clicks before conversions within each batch (a conversion may then find its click),
 * keeps per-item results, and sends a batch again when the gateway answers 503 or cannot be
 * reached (re-sending an id is harmless: the engine de-duplicates), so accepted ids are exactly
 * the ones the gateway said it stored.
 */
import { CatalogLine, SimClick, SimConversion, Simulator, catalogLine } from '@app/simulator';
import { FAULT_ADMIN_KEY } from './cluster';

export type SimTraffic = SimClick | SimConversion;

/** Deterministic labelled traffic ending now (timestamps within the last `hours`); click ids minted for `partitions` (1). */
export function simulate(o: { seed: number; events: number; hours?: number; end?: Date; partitions?: number }): {
  catalog: CatalogLine;
  events: SimTraffic[];
} {
  const hours = o.hours ?? 1;
  const end = o.end ?? new Date();
  const start = new Date(end.getTime() - hours * 3600_000);
  const sim = new Simulator({ seed: o.seed, events: o.events, hours, start, partitions: o.partitions ?? 1 });
  const events = [...sim.events()].filter((e): e is SimTraffic => e.kind === 'click' || e.kind === 'conversion');
  return { catalog: catalogLine(sim.catalog), events };
}

/**
 * `events` with a copy of every `every`-th click without its id, right after it: new events to the
 * engine, which mints their ids and stores a request's such clicks several to a JetStream message.
 */
export function withMintedCopies(events: readonly SimTraffic[], every = 4): SimTraffic[] {
  const out: SimTraffic[] = [];
  events.forEach((e, i) => {
    out.push(e);
    if (e.kind === 'click' && i % every === 0) {
      const { id: _id, ...withoutId } = e;
      out.push(withoutId as SimTraffic);
    }
  });
  return out;
}

/** Creates the catalog of a simulation through the admin API. */
export async function seedCatalog(target: { admin(path: string, body: unknown): Promise<unknown> }, catalog: CatalogLine): Promise<void> {
  for (const a of catalog.advertisers) await target.admin('/v1/admin/advertisers', a);
  for (const o of catalog.offers) await target.admin('/v1/admin/offers', o);
  for (const p of catalog.publishers) await target.admin('/v1/admin/publishers', p);
}

export interface ItemResult {
  index: number;
  status: 'accepted' | 'rejected' | 'failed';
  id?: string;
  duplicate?: boolean;
  errors?: { field: string; message: string }[];
}

/** Posts events to the gateway and keeps the per-item outcome. */
export class Sender {
  /** Events handed to `send` (each counted once, however often it was retried). */
  sent = 0;
  readonly accepted = { click: new Set<string>(), conversion: new Set<string>() };
  /** Ids the gateway refused for good (4xx per item). */
  readonly rejected: { id?: string; errors?: unknown }[] = [];
  /** Batches sent again after a 503 or a refused connection. */
  retries = 0;

  constructor(
    private readonly gateway: string,
    /** `key`: the admin key by default (simulator traffic is a backfill of every publisher and advertiser). */
    private readonly options: { retryForMs?: number; key?: string } = {},
  ) {}

  get acceptedCount(): number {
    return this.accepted.click.size + this.accepted.conversion.size;
  }

  /**
   * Sends `events` in batches; `onBatch(n)` runs after the n-th batch (1-based) and may inject a
   * fault (it is awaited); `pauseMs` spaces batches out so that faults land mid-stream.
   */
  async send(events: readonly SimTraffic[], o: { batch?: number; pauseMs?: number; onBatch?: (n: number) => unknown } = {}): Promise<void> {
    const size = o.batch ?? 100;
    for (let i = 0, n = 1; i < events.length; i += size, n++) {
      const slice = events.slice(i, i + size);
      await this.post(
        'click',
        slice.filter((e) => e.kind === 'click'),
      );
      await this.post(
        'conversion',
        slice.filter((e) => e.kind === 'conversion'),
      );
      this.sent += slice.length;
      await o.onBatch?.(n);
      if (o.pauseMs) await new Promise((r) => setTimeout(r, o.pauseMs));
    }
  }

  /** Posts one array; returns the per-item results (after retries of 503 and connection errors). */
  async post(kind: 'click' | 'conversion', items: readonly object[]): Promise<ItemResult[]> {
    if (!items.length) return [];
    const body = JSON.stringify(items.map(({ kind: _k, label: _l, pattern: _p, ...rest }: any) => rest));
    const until = Date.now() + (this.options.retryForMs ?? 60_000);
    for (;;) {
      const res = await fetch(`${this.gateway}/v1/${kind}s`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${this.options.key ?? FAULT_ADMIN_KEY}` },
        body,
      }).catch(() => null);
      if (res && res.status !== 503) {
        const out = (await res.json()) as { results?: ItemResult[] };
        if (!out.results) throw new Error(`gateway answered ${res.status}: ${JSON.stringify(out)}`);
        this.record(kind, out.results);
        // Items that failed (the event store was away) are sent again; the accepted ones are kept.
        const failed = out.results.filter((r) => r.status === 'failed').map((r) => items[r.index]);
        if (failed.length === 0) return out.results;
        if (Date.now() > until) throw new Error(`${failed.length} ${kind}s still failing after retries`);
        this.retries++;
        await new Promise((r) => setTimeout(r, 250));
        return this.post(kind, failed);
      }
      if (Date.now() > until) throw new Error(`gateway unavailable (${res?.status ?? 'no connection'}) for too long`);
      this.retries++;
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  private record(kind: 'click' | 'conversion', results: ItemResult[]): void {
    for (const r of results) {
      if (r.status === 'accepted' && r.id) this.accepted[kind].add(r.id);
      else if (r.status === 'rejected') this.rejected.push({ id: r.id, errors: r.errors });
    }
  }
}
