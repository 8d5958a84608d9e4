import { Inject, Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import { Topology } from '@app/contracts';
import { NATS_CONNECTION } from '@app/messaging';
import { componentLogger } from '@app/observability';
import { PostbackRepository } from '@app/storage';

const REFRESH_MS = 30_000;

/**
 * Which publishers have a partner postback, in memory: the fan-out queues a postback delivery only
 * for them (not one per decision for nothing). Reloaded when the API announces a change on
 * `<root>.catalog.changed` (it does after every postback write) and every 30 s, like the catalog.
 */
@Injectable()
export class PostbackDirectory implements OnModuleInit, OnApplicationShutdown {
  private publishers = new Set<string>();
  private subscription?: Subscription;
  private timer?: NodeJS.Timeout;
  private readonly log = componentLogger('postbacks');

  constructor(
    private readonly postbacks: PostbackRepository,
    private readonly topology: Topology,
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.reload();
    this.subscription = this.nc.subscribe(this.topology.catalogChanged, {
      callback: () => void this.reload().catch((e) => this.log.warn({ err: e }, 'postback directory reload failed')),
    });
    this.timer = setInterval(
      () => void this.reload().catch((e) => this.log.warn({ err: e }, 'postback directory refresh failed')),
      REFRESH_MS,
    );
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
    this.subscription?.unsubscribe();
  }

  /** Whether the publisher has a postback (global or for some offer). */
  has(publisherId: string): boolean {
    return this.publishers.has(publisherId);
  }

  async reload(): Promise<void> {
    this.publishers = new Set(await this.postbacks.publishers());
  }
}
