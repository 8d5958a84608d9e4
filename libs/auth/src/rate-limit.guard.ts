import { DynamicModule, ExecutionContext, HttpException, HttpStatus, Injectable } from '@nestjs/common';
import { ThrottlerGuard, ThrottlerLimitDetail, ThrottlerModule } from '@nestjs/throttler';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { hashKey } from '@app/storage';

const WINDOW_MS = 60_000;

function bearer(req: FastifyRequest): string | null {
  const header = req.headers?.authorization;
  const match = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  return match ? match[1] : null;
}

/**
 * Two budgets per minute, both checked on every request:
 * - `default`, per API key (a request without a key counts against its client address), whose
 *   state every answer reports in `X-RateLimit-Limit / -Remaining / -Reset`;
 * - `ip`, per client address, larger, so that inventing a new key for every request (each one an
 *   unknown key, each a lookup) does not get round the first.
 * Over either: 429 with `Retry-After` in seconds. Counts live in this process: with several
 * replicas, each enforces its own.
 */
@Injectable()
export class KeyRateLimitGuard extends ThrottlerGuard {
  protected override generateKey(_context: ExecutionContext, tracker: string, throttler: string): string {
    return `${throttler}:${tracker}`;
  }

  protected override async throwThrottlingException(context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    const subject = detail.tracker.startsWith('key:') ? 'this API key' : 'this address';
    context.switchToHttp().getResponse<FastifyReply>().header('Retry-After', String(detail.timeToBlockExpire));
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

/** The limiter's budgets; pair it with `KeyRateLimitGuard` as a global guard. */
export function rateLimitModule(limits: { perKey: number; perIp: number }): DynamicModule {
  return ThrottlerModule.forRoot({
    throttlers: [
      {
        name: 'default',
        ttl: WINDOW_MS,
        limit: limits.perKey,
        getTracker: (req: Record<string, any>) => {
          const key = bearer(req as FastifyRequest);
          return key ? `key:${hashKey(key)}` : `ip:${req.ip}`;
        },
      },
      { name: 'ip', ttl: WINDOW_MS, limit: limits.perIp, getTracker: (req: Record<string, any>) => `ip:${req.ip}`, setHeaders: false },
    ],
  });
}
