import { ExecutionContext, HttpException, HttpStatus, Injectable } from '@nestjs/common';
import { ThrottlerGuard, ThrottlerLimitDetail, ThrottlerModule } from '@nestjs/throttler';
import type { DynamicModule } from '@nestjs/common';
import { hashKey } from '@app/storage';

const WINDOW_MS = 60_000;

/**
 * Requests per minute per API key, across every route (without a key: per client IP). Over the
 * limit: 429 with `Retry-After` in seconds; every answer carries `X-RateLimit-Limit / -Remaining
 * / -Reset`. Counts are kept in this process: with several API replicas the limit is per replica.
 */
@Injectable()
export class KeyRateLimitGuard extends ThrottlerGuard {
  protected override async getTracker(req: Record<string, any>): Promise<string> {
    const header = req.headers?.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    return match ? `key:${hashKey(match[1])}` : `ip:${req.ip}`;
  }

  protected override generateKey(_context: ExecutionContext, tracker: string, throttler: string): string {
    return `${throttler}:${tracker}`;
  }

  protected override async throwThrottlingException(_context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    const subject = detail.tracker.startsWith('key:') ? 'this API key' : 'this address';
    throw new HttpException(
      {
        error: 'rate_limited',
        message: `${subject} made more than ${detail.limit} requests in ${detail.ttl / 1000} s; retry after ${detail.timeToBlockExpire} s`,
        retryAfterSeconds: detail.timeToBlockExpire,
      },
      HttpStatus.TOO_MANY_REQUESTS,
    );
  }
}

/** The limiter's state, sized by `API_RATE_LIMIT_PER_MINUTE`; pair it with `KeyRateLimitGuard` as a global guard. */
export function rateLimitModule(perMinute: number): DynamicModule {
  return ThrottlerModule.forRoot({ throttlers: [{ name: 'default', ttl: WINDOW_MS, limit: perMinute }] });
}
