import { SkipThrottle } from '@nestjs/throttler';
import { Body, Controller, HttpStatus, Inject, Post, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiHeader, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ARBITER_CONFIG, ArbiterConfig } from '@app/config';
import { ClickInput, ConversionInput } from '@app/contracts';
import type { SenderIdentity } from '@app/ingest';
import { Type } from '@sinclair/typebox';
import { EventContractChecksText } from '@app/http';
import { IngestAuthenticator } from './ingest-auth.service';
import { IngestService, ItemResult } from './ingest.service';

/**
 * `POST /v1/clicks` and `POST /v1/conversions`: one JSON event, or an array of them.
 *
 * One event: 202 `{ id, duplicate }`, 400 with field errors, or 503 (with Retry-After) when the event store is
 * full or away.
 * An array: per-item results; 202 when all were accepted, 207 when some were (the accepted ones
 * are kept: send only the failed ones again), 400 when none were valid, 503 when none could be
 * stored, 413 above the batch limit.
 */
const batchOf = (schema: object) => Type.Union([schema as never, Type.Array(schema as never, { minItems: 1 })]) as object;
const BATCH_RESULT = {
  accepted: 1,
  rejected: 1,
  failed: 0,
  results: [
    { index: 0, status: 'accepted', id: 'c0.0193e0f2-6a7b-7c3d-9e8f-123456789abc', duplicate: false },
    { index: 1, status: 'rejected', errors: [{ field: 'publisherId', message: 'is required' }] },
  ],
};
const CLICK = {
  offerId: 'shoes',
  publisherId: 'blog',
  subId: 'spring',
  ip: '203.0.113.7',
  userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) …',
};

@ApiTags('ingest')
// Not the API's budgets (neither per key nor per address): ingest has its own (IngestLimiter, GATEWAY_RATE_LIMIT_*).
@SkipThrottle({ default: true, ip: true })
@Controller('v1')
export class IngestController {
  constructor(
    private readonly ingest: IngestService,
    private readonly auth: IngestAuthenticator,
    @Inject(ARBITER_CONFIG) private readonly config: ArbiterConfig,
  ) {}

  @Post('clicks')
  @EventContractChecksText()
  @ApiBearerAuth()
  @ApiOperation({
    summary: 'Record clicks (one, or an array of up to GATEWAY_MAX_BATCH)',
    description:
      'Server-to-server clicks of a publisher: send its publisher key (`Authorization: Bearer`); every click must name that publisher. The admin key may send any' +
      ' (backfill). Every well-formed click is stored, even for an unknown offer or publisher (that becomes a reason on its verdict). `id` is minted when absent;' +
      " re-sending the same `id` is harmless. An `id` you choose is an id within your publisher: the answer's `id` (derived from both, `s-…`; the" +
      " admin key's ids are kept) is the click id to pass to the advertiser, whose conversion names it; an `id` spelled `s-…` is refused." +
      ' Live rules use the receipt time: a `ts` you report (at most GATEWAY_MAX_REPORTED_AGE_SECONDS in the past) is kept as `reportedTs`. `label` and `pattern` are for admin files only. One click: 202, 400 with field errors, 401 / 403 without the right key, or 503.' +
      ' An array: per-item results; 202 all accepted, 207 some (keep them: resend only the others), 400 none valid, 413 too many.',
  })
  @ApiBody({
    schema: batchOf(ClickInput),
    examples: { one: { value: CLICK }, batch: { value: [CLICK, { ...CLICK, ip: '198.51.100.23' }] } },
  })
  @ApiResponse({
    status: 202,
    description: 'Stored',
    schema: { example: { id: 'c0.0193e0f2-6a7b-7c3d-9e8f-123456789abc', duplicate: false } },
  })
  @ApiResponse({ status: 207, description: 'Some stored, some refused (batch)', schema: { example: BATCH_RESULT } })
  @ApiResponse({
    status: 400,
    description: 'Not valid',
    schema: { example: { error: 'validation_failed', message: 'ip is required', errors: [{ field: 'ip', message: 'is required' }] } },
  })
  @ApiResponse({ status: 401, description: 'No key, or an unknown or revoked one' })
  @ApiResponse({ status: 403, description: 'Not a publisher or admin key' })
  @ApiResponse({ status: 413, description: 'Batch or body too large (answered before the credential is checked)' })
  @ApiResponse({
    status: 429,
    description:
      "Over an ingest budget (`Retry-After`): the key's or publisher's, the source address's, or the address's count of unknown keys and tokens this minute (a key not seen yet is not read then)",
  })
  @ApiResponse({
    status: 503,
    description: 'The event store is full or unavailable: nothing was stored, send it again after `Retry-After` seconds',
  })
  async clicks(@Body() body: unknown, @Req() request: FastifyRequest, @Res() reply: FastifyReply) {
    if (this.refuseShape(body, reply)) return;
    return this.accept('click', body, await this.auth.admitClicks(request, reply, eventsOf(body)), reply);
  }

  @Post('conversions')
  @EventContractChecksText()
  @ApiBearerAuth()
  @ApiHeader({ name: 'X-Postback-Token', required: false, description: "the advertiser's postback token, instead of an advertiser key" })
  @ApiOperation({
    summary: 'Record conversions (one, or an array)',
    description:
      "Send the advertiser's key (`Authorization: Bearer`) or its postback token (`X-Postback-Token`); from an address on the advertiser's allow-list when" +
      ' it has one. Without either, only offers set to accept open (pixel) conversions take it (`offerId` required; the decision carries UNVERIFIED_SOURCE).' +
      " A conversion names its click (`clickId`), possibly one the engine never saw; an `offerId` must be one of the sender's offers and its click's" +
      ' (otherwise OFFER_MISMATCH). The payout is computed by the network: `payout`, `label` and `pattern` are for the admin key (backfill) only. A reported' +
      " `ts` later than the receipt counts as the receipt. An `id` you choose is an id within your advertiser (an open pixel's within its offer):" +
      " the answer's `id` (derived from both, `s-…`; the admin key's ids are kept) is the conversion's id in the API and in webhooks (the API also" +
      ' takes the id you sent with your key or token, not one your open pixel sent); an `id` spelled `s-…` is refused. Answers as for clicks;' +
      ' its decision follows within milliseconds.',
  })
  @ApiBody({
    schema: batchOf(ConversionInput),
    examples: { one: { value: { clickId: 'c0.0193e0f2-6a7b-7c3d-9e8f-123456789abc', amount: 80, orderId: 'A-1001', type: 'sale' } } },
  })
  @ApiResponse({
    status: 202,
    description: 'Stored',
    schema: { example: { id: '0193e0f2-7b8c-7d9e-8f01-23456789abcd', duplicate: false } },
  })
  @ApiResponse({ status: 207, description: 'Some stored, some refused (batch)', schema: { example: BATCH_RESULT } })
  @ApiResponse({ status: 400, description: 'Not valid' })
  @ApiResponse({ status: 401, description: 'An unknown or revoked key or token' })
  @ApiResponse({ status: 403, description: "Not an advertiser key, token or admin key, or not from the advertiser's allowed addresses" })
  @ApiResponse({ status: 413, description: 'Batch or body too large (answered before the credential is checked)' })
  @ApiResponse({
    status: 429,
    description:
      "Over an ingest budget (`Retry-After`): the key's or publisher's, the source address's, or the address's count of unknown keys and tokens this minute (a key not seen yet is not read then)",
  })
  @ApiResponse({
    status: 503,
    description: 'The event store is full or unavailable: nothing was stored, send it again after `Retry-After` seconds',
  })
  async conversions(@Body() body: unknown, @Req() request: FastifyRequest, @Res() reply: FastifyReply) {
    if (this.refuseShape(body, reply)) return;
    const offerIds = (Array.isArray(body) ? body : [body]).map((item) => (item as { offerId?: unknown } | null)?.offerId);
    return this.accept('conversion', body, await this.auth.admitConversions(request, reply, offerIds, eventsOf(body)), reply);
  }

  /**
   * An empty batch (400) or one above GATEWAY_MAX_BATCH (413) is answered before anything else:
   * before the key is checked, any offer looked up or any budget spent, so no request costs more
   * than a batch's worth of work (hostile review 2026-12-04, finding 4: 50,000 items, each an offer
   * look-up, before the 413).
   */
  private refuseShape(body: unknown, reply: FastifyReply): boolean {
    if (!Array.isArray(body)) return false;
    if (body.length === 0) {
      reply.code(400).send({
        error: 'validation_failed',
        message: 'the batch is empty',
        errors: [{ field: '', message: 'must contain at least one event' }],
      });
      return true;
    }
    if (body.length > this.config.GATEWAY_MAX_BATCH) {
      reply
        .code(413)
        .send({ error: 'batch_too_large', message: `at most ${this.config.GATEWAY_MAX_BATCH} events per request (got ${body.length})` });
      return true;
    }
    return false;
  }

  /** `from` has been admitted and has spent its budget (IngestAuthenticator). */
  private async accept(kind: 'click' | 'conversion', body: unknown, from: SenderIdentity, reply: FastifyReply): Promise<void> {
    const receivedAt = new Date();
    if (!Array.isArray(body)) {
      const [result] = await this.ingest.ingest(kind, [body], receivedAt, from);
      return void withStatus(reply, singleStatus(result)).send(singleBody(result));
    }
    const results = await this.ingest.ingest(kind, body, receivedAt, from);
    const count = (s: ItemResult['status']) => results.filter((r) => r.status === s).length;
    const summary = { accepted: count('accepted'), rejected: count('rejected'), failed: count('failed') };
    const status = batchStatus(summary);
    withStatus(reply, status).send({ ...batchRefusal(status, results), ...summary, results });
  }
}

/**
 * A batch of which nothing was accepted is an error answer like any other: `error` and `message`
 * (and, for 400, every item's field errors with the item's index) next to the per-item results,
 * so a client that only knows the one error shape still learns what is wrong.
 */
function batchRefusal(status: number, results: ItemResult[]) {
  if (status === HttpStatus.BAD_REQUEST) {
    const errors = results.flatMap((r) =>
      r.status === 'rejected'
        ? r.errors.map((e) => ({
            field: `[${r.index}]${!e.field || e.field.startsWith('[') ? e.field : `.${e.field}`}`,
            message: e.message,
          }))
        : [],
    );
    // Capped like each item's list: a batch of a thousand bad events still gets a small answer.
    const shown =
      errors.length > 100 ? [...errors.slice(0, 100), { field: '', message: `and ${errors.length - 100} more errors` }] : errors;
    return { error: 'validation_failed', message: `no event of the batch is valid: ${describe(shown)}`.slice(0, 2000), errors: shown };
  }
  if (status === HttpStatus.SERVICE_UNAVAILABLE) {
    return { error: 'unavailable', message: 'the event store is unavailable: no event of the batch was stored, send it again later' };
  }
  return {};
}

/** Seconds a sender is asked to wait before sending again what could not be stored (as the HTTP edge's other 503s). */
export const RETRY_AFTER_SECONDS = 5;

/**
 * `reply` with `status`; a 503 (nothing stored: EVENTS full, JetStream unavailable) says when to
 * send again, as a 429 does.
 */
export function withStatus(reply: FastifyReply, status: number): FastifyReply {
  if (status === HttpStatus.SERVICE_UNAVAILABLE) reply.header('Retry-After', String(RETRY_AFTER_SECONDS));
  return reply.code(status);
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

/** The events a request holds: its batch's length, or one. */
function eventsOf(body: unknown): number {
  return Array.isArray(body) ? body.length : 1;
}

function describe(errors: { field: string; message: string }[]): string {
  return errors.map((e) => `${e.field || 'event'} ${e.message}`).join('; ');
}
