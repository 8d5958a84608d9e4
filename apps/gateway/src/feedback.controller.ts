import { Body, Controller, NotFoundException, Post, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { ApiKeyGuard, CurrentPrincipal, Roles } from '@app/auth';
import { OutcomeRepository, Principal } from '@app/storage';
import { IngestService } from './ingest.service';
import { singleBody, singleStatus } from './ingest.controller';

/**
 * `POST /v1/feedback`: an advertiser's final word on one of its conversions (approved / rejected),
 * stored as a labelled event that becomes training data.
 */
@Controller('v1')
@UseGuards(ApiKeyGuard)
export class FeedbackController {
  constructor(
    private readonly ingest: IngestService,
    private readonly outcomes: OutcomeRepository,
  ) {}

  @Post('feedback')
  @Roles('advertiser', 'admin')
  async feedback(@Body() body: unknown, @CurrentPrincipal() principal: Principal, @Res() reply: FastifyReply) {
    const conversionId = typeof body === 'object' && body !== null ? (body as { conversionId?: unknown }).conversionId : undefined;
    if (typeof conversionId === 'string' && principal.role === 'advertiser') {
      // Another advertiser's conversion reads as missing: its existence is not ours to reveal.
      const decision = await this.outcomes.findDecision(conversionId, { advertiserId: principal.subjectId ?? '' });
      if (!decision)
        throw new NotFoundException({ error: 'not_found', message: `no decided conversion "${conversionId}" for this advertiser` });
    }
    const source = principal.role === 'admin' ? 'analyst' : 'advertiser';
    const [result] = await this.ingest.ingest('feedback', [body], new Date(), (e) =>
      e.kind === 'feedback' ? { ...e, source, actor: principal.keyId } : e,
    );
    reply.code(singleStatus(result)).send(singleBody(result));
  }
}
