import { randomBytes } from 'node:crypto';
import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { ARBITER_CONFIG, ArbiterConfig } from '@app/config';
import { Topology } from '@app/contracts';
import { NATS_CONNECTION } from '@app/messaging';
import { componentLogger } from '@app/observability';
import { openConfigBucket } from '@app/live-config';
import { EnforcementService } from './enforcement.service';

const LEASE_KEY = 'enforcement-lease';

/**
 * Runs the enforcement policies every ENFORCEMENT_INTERVAL_SECONDS in the API process. With several
 * API instances, one runs them: it holds a lease in the configuration bucket, taken and renewed with
 * compare-and-set on the key's revision and free for another instance three intervals after its
 * holder stopped renewing. (Writes are safe without it too — blocks are re-checked under the rule-set
 * lock — the lease saves the database the duplicate reads.)
 */
@Injectable()
export class EnforcementJob implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly log = componentLogger('enforcement');
  private readonly holder = randomBytes(8).toString('hex');
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;
  private kv?: KV;

  constructor(
    private readonly enforcement: EnforcementService,
    @Inject(ARBITER_CONFIG) private readonly config: ArbiterConfig,
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    private readonly topology: Topology,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.ENFORCEMENT_INTERVAL_SECONDS > 0) this.schedule();
  }

  /** Before the NATS connection and the pool close (their own shutdown hooks): finish a run, free the lease. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    await this.release().catch(() => undefined);
  }

  private get intervalMs(): number {
    return this.config.ENFORCEMENT_INTERVAL_SECONDS * 1000;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick().finally(() => this.schedule());
    }, this.intervalMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    try {
      if (!(await this.acquire())) return;
      const run = await this.enforcement.run();
      if (run.made.length || run.forgotten) {
        this.log.info(
          {
            version: run.version,
            blocks: run.made.map((b) => ({ id: b.id, policy: b.policy, publisherId: b.publisherId })),
            forgotten: run.forgotten,
          },
          'enforcement changed the rule sets',
        );
      }
    } catch (err) {
      // The database or NATS is away: the next interval tries again; nothing is half-written
      // (a block is one rule-set version, written in one transaction).
      this.log.warn({ err }, 'enforcement run failed; retrying at the next interval');
    }
  }

  /** Takes or renews the lease; false when another instance holds it. */
  private async acquire(): Promise<boolean> {
    this.kv ??= await openConfigBucket(this.nc, this.topology);
    const now = Date.now();
    const value = JSON.stringify({ holder: this.holder, until: now + 3 * this.intervalMs });
    const entry = await this.kv.get(LEASE_KEY);
    try {
      if (!entry || entry.operation !== 'PUT') {
        await this.kv.create(LEASE_KEY, value);
        return true;
      }
      const lease = entry.json<{ holder: string; until: number }>();
      if (lease.holder !== this.holder && lease.until > now) return false;
      await this.kv.update(LEASE_KEY, value, entry.revision);
      return true;
    } catch {
      // Another instance wrote the key between our read and our write: it holds the lease.
      return false;
    }
  }

  private async release(): Promise<void> {
    if (!this.kv) return;
    const entry = await this.kv.get(LEASE_KEY);
    if (entry?.operation === 'PUT' && entry.json<{ holder: string }>().holder === this.holder) {
      await this.kv.delete(LEASE_KEY, { previousSeq: entry.revision });
    }
  }
}
