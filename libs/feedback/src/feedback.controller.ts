import { Body, Controller, Inject, NotFoundException, Post, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { ApiKeyGuard, CurrentPrincipal, Roles } from '@app/auth';
import { ARBITER_CONFIG, ArbiterConfig } from '@app/config';
import { partitionOfClickId } from '@app/contracts';
import { OutcomeRepository, Principal } from '@app/storage';
import { IngestService } from './ingest.service';
import { singleBody, singleStatus } from './ingest.controller';

/**
 * `POST /v1/feedback`: an advertiser's (or, with an admin key, an analyst's) final word on a
 * conversion — approved or rejected. It becomes a labelled event (training data) and, through the
 * scorer that owns the conversion, a new revision of its decision.
 */
@Controller('v1')
@UseGuards(ApiKeyGuard)
export class FeedbackController {
  constructor(
    private readonly ingest: IngestService,
    private readonly outcomes: OutcomeRepository,
    @Inject(ARBITER_CONFIG) private readonly config: ArbiterConfig,
  ) {}

  @Post('feedback')
  @Roles('advertiser', 'admin')
  async feedback(@Body() body: unknown, @CurrentPrincipal() principal: Principal, @Res() reply: FastifyReply) {
    const conversionId = typeof body === 'object' && body !== null ? (body as { conversionId?: unknown }).conversionId : undefined;
    let clickId: string | undefined;
    if (typeof conversionId === 'string') {
      // Another advertiser's conversion reads as missing: its existence is not ours to reveal.
      const scope = principal.role === 'advertiser' ? { advertiserId: principal.subjectId ?? '' } : {};
      const decision = await this.outcomes.findDecision(conversionId, scope);
      if (!decision)
        throw new NotFoundException({
          error: 'not_found',
          message: `no decided conversion "${conversionId}"${principal.role === 'advertiser' ? ' for this advertiser' : ''}`,
        });
      clickId = decision.clickId;
    }
    const source = principal.role === 'admin' ? 'analyst' : 'advertiser';
    const [result] = await this.ingest.ingest('feedback', [body], new Date(), (e) =>
      e.kind === 'feedback' && clickId
        ? { ...e, source, actor: principal.keyId, clickId, partition: partitionOfClickId(clickId, this.config.ARBITER_PARTITIONS) }
        : e,
    );
    reply.code(singleStatus(result)).send(singleBody(result));
  }
}
