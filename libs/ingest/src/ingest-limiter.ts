import { HttpException, HttpStatus, Inject, Injectable } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { ARBITER_CONFIG, ArbiterConfig } from '@app/config';
import type { KeyReadHooks } from '@app/auth';
import type { SenderIdentity } from '@app/ingest';

const WINDOW_MS = 60_000;

export type Budget = 'key' | 'publisher' | 'address' | 'credential';

/**
 * Ingest's own limits (DESIGN §3a), separate from the API's: events per minute per partner key
 * (publisher key, advertiser key or postback token), per publisher (all its keys), and per source
 * address on the doors without a credential (tracking link, open pixel). Failed credentials have a
 * count of their own per address, with the same limit (`readCredential`), so pixels and links never
 * refuse a valid key. The admin key is not limited (backfills and replays). Fixed one-minute
 * windows in this process: each gateway replica
 * enforces its own. Counts are kept for the current minute only, so memory follows the traffic of
 * one minute.
 */
@Injectable()
export class IngestLimiter {
  private readonly limits: Record<Budget, number>;
  private window = 0;
  private counts = new Map<string, number>();
  /** Key-store reads under way for credentials not known to be valid, by address (not per minute). */
  private readonly reading = new Map<string, number>();

  constructor(@Inject(ARBITER_CONFIG) config: ArbiterConfig) {
    this.limits = {
      key: config.GATEWAY_RATE_LIMIT_PER_KEY_PER_MINUTE,
      publisher: config.GATEWAY_RATE_LIMIT_PER_PUBLISHER_PER_MINUTE,
      address: config.GATEWAY_RATE_LIMIT_PER_ADDRESS_PER_MINUTE,
      credential: config.GATEWAY_RATE_LIMIT_PER_ADDRESS_PER_MINUTE,
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
    this.turn(now);
    for (const [budget, id] of budgets) {
      if ((this.counts.get(`${budget}:${id}`) ?? 0) + events > this.limits[budget]) this.refuse(budget, reply, now);
    }
    for (const [budget, id] of budgets) this.counts.set(`${budget}:${id}`, (this.counts.get(`${budget}:${id}`) ?? 0) + events);
  }

  /**
   * A key-store read for a credential not known to be valid, from `address`: 429 (no read) when
   * the address's failed credentials this minute and its reads under way reach the limit, so its
   * reads are bounded even all at once. `after` counts one failed credential when the read found
   * the key unknown or revoked; a valid key or a read that failed (the store down) counts nothing.
   */
  readCredential(address: string, reply: FastifyReply): KeyReadHooks {
    return {
      before: () => {
        const now = Date.now();
        this.turn(now);
        const under = this.reading.get(address) ?? 0;
        if ((this.counts.get(`credential:${address}`) ?? 0) + under + 1 > this.limits.credential) this.refuse('credential', reply, now);
        this.reading.set(address, under + 1);
      },
      after: (outcome) => {
        const under = (this.reading.get(address) ?? 1) - 1;
        if (under > 0) this.reading.set(address, under);
        else this.reading.delete(address);
        if (outcome !== 'unknown') return;
        this.turn(Date.now());
        this.counts.set(`credential:${address}`, (this.counts.get(`credential:${address}`) ?? 0) + 1);
      },
    };
  }

  /** Starts the counts again when the minute has turned. */
  private turn(now: number): void {
    const window = Math.floor(now / WINDOW_MS);
    if (window === this.window) return;
    this.window = window;
    this.counts = new Map();
  }

  private refuse(budget: Budget, reply: FastifyReply, now: number): never {
    const retryAfter = Math.max(1, Math.ceil(((this.window + 1) * WINDOW_MS - now) / 1000));
    reply.header('Retry-After', String(retryAfter));
    throw new HttpException(
      {
        error: 'rate_limited',
        message: `${DESCRIBE[budget]} sent more than ${this.limits[budget]} ${budget === 'credential' ? 'unknown keys or tokens' : 'events'} this minute; retry after ${retryAfter} s`,
        retryAfterSeconds: retryAfter,
      },
      HttpStatus.TOO_MANY_REQUESTS,
    );
  }
}

const DESCRIBE: Record<Budget, string> = {
  key: 'this key',
  publisher: 'this publisher',
  address: 'this address',
  credential: 'this address',
};
