import { Controller, FactoryProvider, Get, Header, Inject, Optional, Provider, ServiceUnavailableException } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { SkipThrottle } from '@nestjs/throttler';
import { degradations } from './degradation';
import { metricsRegistry, processMetrics } from './metrics';

/** A dependency a service needs to do its work (NATS, the database). */
export interface HealthCheck {
  name: string;
  /** Resolves when healthy; rejects or times out otherwise. */
  check(): Promise<void>;
}

export const HEALTH_CHECKS = Symbol('HEALTH_CHECKS');

const TIMEOUT_MS = 2_000;

/**
 * `GET /health` and `GET /metrics` (Prometheus); never rate-limited. Health is 503 `down` when a
 * dependency check fails, 200 `degraded` when a consumer keeps failing for a cause that is not its
 * messages' fault (they stay on their stream until it is fixed; `degraded` says which and why),
 * 200 `up` otherwise.
 */
@ApiTags('operations')
// Every throttler by name: `@SkipThrottle()` alone skips only `default`, and the per-address one
// limited health probes (behind a load balancer every probe comes from one address).
@SkipThrottle({ default: true, ip: true })
@Controller()
export class HealthController {
  constructor(@Optional() @Inject(HEALTH_CHECKS) private readonly checks: HealthCheck[] = []) {}

  @Get('health')
  @ApiOperation({ summary: 'Is this service able to work (NATS, database)?' })
  @ApiResponse({
    status: 200,
    description: '`up`, or `degraded` with the components that keep failing and why (their messages are kept and retried)',
    schema: {
      example: {
        status: 'degraded',
        checks: { nats: { status: 'up' }, database: { status: 'up' } },
        degraded: [
          {
            component: 'consumer recorder-verdicts',
            cause: 'database',
            reason: 'database 42501 insufficient_privilege',
            error: 'permission denied for table decisions',
            since: '2026-12-01T21:00:00.000Z',
            failures: 12,
          },
        ],
      },
    },
  })
  @ApiResponse({ status: 503, description: 'A dependency is down (which one is in the body)' })
  async health() {
    const results = await Promise.all(
      this.checks.map(async (c) => {
        try {
          await Promise.race([c.check(), new Promise((_, reject) => setTimeout(() => reject(new Error('timed out')), TIMEOUT_MS).unref())]);
          return [c.name, { status: 'up' }] as const;
        } catch (e) {
          return [c.name, { status: 'down', error: (e as Error).message }] as const;
        }
      }),
    );
    const degraded = degradations.list();
    const up = results.every(([, r]) => r.status === 'up');
    const body = {
      status: !up ? 'down' : degraded.length ? 'degraded' : 'up',
      checks: Object.fromEntries(results),
      ...(degraded.length ? { degraded } : {}),
    };
    if (!up) throw new ServiceUnavailableException(body);
    return body;
  }

  @Get('metrics')
  @Header('Content-Type', metricsRegistry.contentType)
  @ApiOperation({ summary: 'Prometheus metrics of the process' })
  @ApiResponse({
    status: 200,
    content: { 'text/plain': { example: 'arbiter_events_ingested_total{kind="click",duplicate="false"} 1200' } },
  })
  metrics(): Promise<string> {
    return processMetrics();
  }
}

/** Providers for `HealthController`: the given checks (each a provider of a `HealthCheck`). */
export function healthChecks(...checks: FactoryProvider<HealthCheck>[]): Provider[] {
  return [
    ...checks,
    { provide: HEALTH_CHECKS, inject: checks.map((c) => c.provide), useFactory: (...resolved: HealthCheck[]) => resolved },
  ];
}
