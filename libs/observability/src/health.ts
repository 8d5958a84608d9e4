import { Controller, FactoryProvider, Get, Header, Inject, Optional, Provider, ServiceUnavailableException } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { SkipThrottle } from '@nestjs/throttler';
import { metricsRegistry } from './metrics';

/** A dependency a service needs to do its work (NATS, the database). */
export interface HealthCheck {
  name: string;
  /** Resolves when healthy; rejects or times out otherwise. */
  check(): Promise<void>;
}

export const HEALTH_CHECKS = Symbol('HEALTH_CHECKS');

const TIMEOUT_MS = 2_000;

/** `GET /health` (200 or 503 with each check's state) and `GET /metrics` (Prometheus); never rate-limited. */
@ApiTags('operations')
@SkipThrottle()
@Controller()
export class HealthController {
  constructor(@Optional() @Inject(HEALTH_CHECKS) private readonly checks: HealthCheck[] = []) {}

  @Get('health')
  @ApiOperation({ summary: 'Is this service able to work (NATS, database)?' })
  @ApiResponse({ status: 200, schema: { example: { status: 'up', checks: { nats: { status: 'up' }, database: { status: 'up' } } } } })
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
    const body = { status: results.every(([, r]) => r.status === 'up') ? 'up' : 'down', checks: Object.fromEntries(results) };
    if (body.status !== 'up') throw new ServiceUnavailableException(body);
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
    return metricsRegistry.metrics();
  }
}

/** Providers for `HealthController`: the given checks (each a provider of a `HealthCheck`). */
export function healthChecks(...checks: FactoryProvider<HealthCheck>[]): Provider[] {
  return [
    ...checks,
    { provide: HEALTH_CHECKS, inject: checks.map((c) => c.provide), useFactory: (...resolved: HealthCheck[]) => resolved },
  ];
}
