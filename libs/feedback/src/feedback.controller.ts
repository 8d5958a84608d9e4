import { Body, Controller, Post, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { ApiKeyGuard, CurrentPrincipal, Roles } from '@app/auth';
import { FeedbackInput } from '@app/contracts';
import { plain } from '@app/http';
import { Principal } from '@app/storage';
import { FeedbackService } from './feedback.service';

/**
 * `POST /v1/feedback`: an advertiser's final word on one of its conversions (or, with an admin key,
 * an analyst's), approved or rejected. It revises the decision and becomes a training label.
 */
@ApiTags('advertiser')
@ApiBearerAuth()
@Controller('v1')
@UseGuards(ApiKeyGuard)
export class FeedbackController {
  constructor(private readonly feedback: FeedbackService) {}

  @Post('feedback')
  @Roles('advertiser', 'admin')
  @ApiOperation({
    summary: 'Approve or reject a decided conversion',
    description:
      'An advertiser labels one of its conversions (`conversionId`: the id its conversion was answered with, or the id the advertiser' +
      ' sent itself with its key or token, not one its open pixel sent); with an admin key it is an analyst decision. The conversion’s decision is revised' +
      ' (ADVERTISER_REJECTED / ANALYST_OVERRIDE) and published again; the label trains the model. An `id` you give is your idempotency' +
      ' key (sending it again is harmless), scoped to your key’s tenant and the conversion: the same `id` on another conversion' +
      ' is a feedback of its own. The answer’s `id` is the stored event’s; the revision it makes carries it as `feedbackId`.',
  })
  @ApiBody({
    schema: plain(FeedbackInput),
    examples: { reject: { value: { conversionId: '0193e0f2-6a7b-7c3d-9e8f-123456789abc', status: 'rejected', reason: 'chargeback' } } },
  })
  @ApiResponse({
    status: 202,
    description: 'Accepted',
    schema: { example: { id: '0193e0f2-7b8c-7d9e-8f01-23456789abcd', duplicate: false } },
  })
  @ApiResponse({ status: 400, description: 'Field-level errors' })
  @ApiResponse({ status: 404, description: 'No decided conversion with that id (for this advertiser)' })
  async submit(@Body() body: unknown, @CurrentPrincipal() principal: Principal, @Res() reply: FastifyReply): Promise<void> {
    const r = await this.feedback.submit(body, principal);
    if (r.status === 'accepted') return void reply.code(202).send({ id: r.id, duplicate: r.duplicate });
    if (r.status === 'rejected')
      return void reply
        .code(400)
        .send({ error: 'validation_failed', message: r.errors.map((e) => `${e.field} ${e.message}`).join('; '), errors: r.errors });
    if (r.status === 'not_found') return void reply.code(404).send({ error: 'not_found', message: r.message });
    // Not stored (EVENTS full, JetStream unavailable): send it again, as the gateway's 503s say.
    reply.code(503).header('Retry-After', '5').send({ error: 'unavailable', message: r.error });
  }
}
