import { Inject, Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import type { Advertiser, Offer, Publisher } from '@app/contracts';
import { Topology } from '@app/contracts';
import { NATS_CONNECTION } from '@app/messaging';
import { componentLogger } from '@app/observability';
import { CatalogRepository } from '@app/storage';

// A miss is looked up in the database at most this often, so unknown ids in a flood of bad
// traffic cost one query per id per interval, not one per event.
const NEGATIVE_TTL_MS = 5_000;
const REFRESH_MS = 30_000;

/**
 * The catalog in memory for the hot path. Loaded at start, reloaded when the admin API announces
 * a change (`<root>.catalog.changed`) and every 30 s; ids it does not know are looked up in the
 * database (an offer created a moment ago is found on its first click).
 */
@Injectable()
export class CatalogCache implements OnModuleInit, OnApplicationShutdown {
  private offers = new Map<string, Offer>();
  private publishers = new Map<string, Publisher>();
  private advertisers = new Map<string, Advertiser>();
  private readonly misses = new Map<string, number>();
  private subscription?: Subscription;
  private timer?: NodeJS.Timeout;
  private readonly log = componentLogger('catalog');

  constructor(
    private readonly repository: CatalogRepository,
    private readonly topology: Topology,
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.reload();
    this.subscription = this.nc.subscribe(this.topology.catalogChanged, {
      callback: () => void this.reload().catch((e) => this.log.warn({ err: e }, 'catalog reload failed')),
    });
    this.timer = setInterval(() => void this.reload().catch((e) => this.log.warn({ err: e }, 'catalog refresh failed')), REFRESH_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
    this.subscription?.unsubscribe();
  }

  offer(id: string): Offer | undefined {
    return this.offers.get(id);
  }
  publisher(id: string): Publisher | undefined {
    return this.publishers.get(id);
  }
  advertiser(id: string): Advertiser | undefined {
    return this.advertisers.get(id);
  }

  /** Looks up ids not in memory (each at most once per few seconds). */
  async resolve(ids: { offers?: Iterable<string>; publishers?: Iterable<string>; advertisers?: Iterable<string> }): Promise<void> {
    const now = Date.now();
    const wanted = (kind: string, id: string, known: Map<string, unknown>) => {
      if (known.has(id)) return false;
      const until = this.misses.get(`${kind}:${id}`);
      return until === undefined || until < now;
    };
    const offers = [...new Set(ids.offers ?? [])].filter((id) => wanted('offer', id, this.offers));
    const publishers = [...new Set(ids.publishers ?? [])].filter((id) => wanted('publisher', id, this.publishers));
    const advertisers = [...new Set(ids.advertisers ?? [])].filter((id) => wanted('advertiser', id, this.advertisers));
    await Promise.all([
      ...advertisers.map(async (id) => {
        const found = await this.repository.findAdvertiser(id);
        if (found) this.advertisers.set(id, found);
        else this.misses.set(`advertiser:${id}`, now + NEGATIVE_TTL_MS);
      }),
      ...offers.map(async (id) => {
        const found = await this.repository.findOffer(id);
        if (found) this.offers.set(id, found);
        else this.misses.set(`offer:${id}`, now + NEGATIVE_TTL_MS);
      }),
      ...publishers.map(async (id) => {
        const found = await this.repository.findPublisher(id);
        if (found) this.publishers.set(id, found);
        else this.misses.set(`publisher:${id}`, now + NEGATIVE_TTL_MS);
      }),
    ]);
    if (this.misses.size > 100_000) this.misses.clear();
  }

  async reload(): Promise<void> {
    const snapshot = await this.repository.snapshot();
    this.offers = new Map(snapshot.offers.map((o) => [o.id, o]));
    this.publishers = new Map(snapshot.publishers.map((p) => [p.id, p]));
    this.advertisers = new Map(snapshot.advertisers.map((a) => [a.id, a]));
    this.misses.clear();
  }

  /** Tells every cache in every service to reload (after a catalog write). */
  announceChange(): void {
    this.nc.publish(this.topology.catalogChanged);
  }
}
