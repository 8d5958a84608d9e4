import { HttpException, HttpStatus, Inject, Injectable } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { ARBITER_CONFIG, ArbiterConfig } from '@app/config';
import type { SenderIdentity } from '@app/ingest';

const WINDOW_MS = 60_000;

export type Budget = 'key' | 'publisher' | 'address';

/**
 * Ingest's own limits (DESIGN §3a), separate from the API's: events per minute per partner key
 * (publisher key, advertiser key or postback token), per publisher (all its keys), and per source
 * address on the doors without a credential (tracking link, open pixel), which also counts each
 * request whose key or token is unknown (IngestAuthenticator). The admin key is not
 * limited (backfills and replays). Fixed one-minute windows in this process: each gateway replica
 * enforces its own. Counts are kept for the current minute only, so memory follows the traffic of
 * one minute.
 */
@Injectable()
export class IngestLimiter {
  private readonly limits: Record<Budget, number>;
  private window = 0;
  private counts = new Map<string, number>();

  constructor(@Inject(ARBITER_CONFIG) config: ArbiterConfig) {
    this.limits = {
      key: config.GATEWAY_RATE_LIMIT_PER_KEY_PER_MINUTE,
      publisher: config.GATEWAY_RATE_LIMIT_PER_PUBLISHER_PER_MINUTE,
      address: config.GATEWAY_RATE_LIMIT_PER_ADDRESS_PER_MINUTE,
    };
  }

  /** The budgets a request from `from` at `address` spends: the admin's none. */
  static budgetsOf(from: SenderIdentity, address: string): [Budget, string][] {
    switch (from.sender) {
      case 'admin':
        return [];
      case 'publisher':
        return [
          ['key', from.keyId!],
          ['publisher', from.id!],
        ];
      case 'advertiser':
        return [['key', from.keyId!]];
      default:
        return [['address', address]];
    }
  }

  /**
   * Counts `events` against every budget named, or throws 429 (with `Retry-After`) and counts
   * nothing when one of them would go over.
   */
  take(budgets: readonly [Budget, string][], events: number, reply: FastifyReply, now = Date.now()): void {
    const window = Math.floor(now / WINDOW_MS);
    if (window !== this.window) {
      this.window = window;
      this.counts = new Map();
    }
    for (const [budget, id] of budgets) {
      const used = this.counts.get(`${budget}:${id}`) ?? 0;
      if (used + events > this.limits[budget]) {
        const retryAfter = Math.max(1, Math.ceil(((window + 1) * WINDOW_MS - now) / 1000));
        reply.header('Retry-After', String(retryAfter));
        throw new HttpException(
          {
            error: 'rate_limited',
            message: `${DESCRIBE[budget]} sent more than ${this.limits[budget]} events this minute; retry after ${retryAfter} s`,
            retryAfterSeconds: retryAfter,
          },
          HttpStatus.TOO_MANY_REQUESTS,
        );
      }
    }
    for (const [budget, id] of budgets) this.counts.set(`${budget}:${id}`, (this.counts.get(`${budget}:${id}`) ?? 0) + events);
  }

  /** Gives back what `take` counted for a charge that turned out not to be owed (in the same minute only). */
  refund(budgets: readonly [Budget, string][], events: number, now = Date.now()): void {
    if (Math.floor(now / WINDOW_MS) !== this.window) return;
    for (const [budget, id] of budgets) {
      const left = (this.counts.get(`${budget}:${id}`) ?? 0) - events;
      if (left > 0) this.counts.set(`${budget}:${id}`, left);
      else this.counts.delete(`${budget}:${id}`);
    }
  }
}

const DESCRIBE: Record<Budget, string> = { key: 'this key', publisher: 'this publisher', address: 'this address' };
