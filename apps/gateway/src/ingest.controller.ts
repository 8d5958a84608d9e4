import { Body, Controller, HttpStatus, Inject, Post, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { ARBITER_CONFIG, ArbiterConfig } from '@app/config';
import { EventKind } from '@app/contracts';
import { IngestService, ItemResult } from './ingest.service';

/**
 * `POST /v1/clicks` and `POST /v1/conversions`: one JSON event, or an array of them.
 *
 * One event: 202 `{ id, duplicate }`, 400 with field errors, or 503 when the event store is away.
 * An array: per-item results; 202 when all were accepted, 207 when some were (the accepted ones
 * are kept: send only the failed ones again), 400 when none were valid, 503 when none could be
 * stored, 413 above the batch limit.
 */
@Controller('v1')
export class IngestController {
  constructor(
    private readonly ingest: IngestService,
    @Inject(ARBITER_CONFIG) private readonly config: ArbiterConfig,
  ) {}

  @Post('clicks')
  clicks(@Body() body: unknown, @Res() reply: FastifyReply) {
    return this.accept('click', body, reply);
  }

  @Post('conversions')
  conversions(@Body() body: unknown, @Res() reply: FastifyReply) {
    return this.accept('conversion', body, reply);
  }

  private async accept(kind: EventKind, body: unknown, reply: FastifyReply): Promise<void> {
    const receivedAt = new Date();
    if (!Array.isArray(body)) {
      const [result] = await this.ingest.ingest(kind, [body], receivedAt);
      return void reply.code(singleStatus(result)).send(singleBody(result));
    }
    if (body.length === 0) {
      return void reply.code(400).send({
        error: 'validation_failed',
        message: 'the batch is empty',
        errors: [{ field: '', message: 'must contain at least one event' }],
      });
    }
    if (body.length > this.config.GATEWAY_MAX_BATCH) {
      return void reply
        .code(413)
        .send({ error: 'batch_too_large', message: `at most ${this.config.GATEWAY_MAX_BATCH} events per request (got ${body.length})` });
    }
    const results = await this.ingest.ingest(kind, body, receivedAt);
    const count = (s: ItemResult['status']) => results.filter((r) => r.status === s).length;
    const summary = { accepted: count('accepted'), rejected: count('rejected'), failed: count('failed') };
    reply.code(batchStatus(summary)).send({ ...summary, results });
  }
}

export function singleStatus(result: ItemResult): number {
  return result.status === 'accepted'
    ? HttpStatus.ACCEPTED
    : result.status === 'rejected'
      ? HttpStatus.BAD_REQUEST
      : HttpStatus.SERVICE_UNAVAILABLE;
}

export function singleBody(result: ItemResult) {
  if (result.status === 'accepted') return { id: result.id, duplicate: result.duplicate };
  if (result.status === 'rejected') return { error: 'validation_failed', message: describe(result.errors), errors: result.errors };
  return { error: 'unavailable', message: result.error, id: result.id };
}

function batchStatus(s: { accepted: number; rejected: number; failed: number }): number {
  if (s.rejected === 0 && s.failed === 0) return HttpStatus.ACCEPTED;
  if (s.accepted > 0) return HttpStatus.MULTI_STATUS;
  return s.failed > 0 ? HttpStatus.SERVICE_UNAVAILABLE : HttpStatus.BAD_REQUEST;
}

function describe(errors: { field: string; message: string }[]): string {
  return errors.map((e) => `${e.field || 'event'} ${e.message}`).join('; ');
}
