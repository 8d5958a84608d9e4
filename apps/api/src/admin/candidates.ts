import { BadRequestException, HttpException } from '@nestjs/common';
import { RuleSetError } from '@app/rules';
import { CandidateSpec, ModelUnavailableError, parseScope } from '@app/live-config';
import { BacktestBusyError, BacktestRangeError } from './backtest.service';

/** The candidate a request describes (scope + layer, or a whole configuration). */
export function candidateOf(body: { scope?: string; ruleset: Record<string, unknown> | null }): CandidateSpec {
  if (body.scope === undefined) {
    if (body.ruleset === null)
      throw new BadRequestException({
        error: 'validation_failed',
        message: 'ruleset: a whole configuration cannot be null',
        errors: [{ field: 'ruleset', message: 'must be an object without scope' }],
      });
    return { config: body.ruleset };
  }
  return { scope: parseScope(body.scope)!, layer: body.ruleset };
}

/** Domain errors of rule-set changes, backtests and shadows, as HTTP answers. */
export function trialError(e: unknown): unknown {
  if (e instanceof RuleSetError) return new BadRequestException({ error: 'validation_failed', message: e.message, errors: e.errors });
  if (e instanceof BacktestRangeError)
    return new BadRequestException({ error: 'validation_failed', message: e.message, errors: [{ field: 'to', message: e.message }] });
  if (e instanceof BacktestBusyError) return new HttpException({ error: 'rate_limited', message: e.message }, 429);
  // The backtest would not be the live engine's: refused until the model loads (GET /health says degraded meanwhile).
  if (e instanceof ModelUnavailableError) return new HttpException({ error: 'model_unavailable', message: e.message }, 503);
  return e;
}
