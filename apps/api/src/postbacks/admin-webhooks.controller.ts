import { Controller, Get, Headers, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Static } from '@sinclair/typebox';
import { ApiKeyGuard, Roles } from '@app/auth';
import { ApiListResponse, ApiQueryFrom, csvFile, pagedList, prefersCsv, QueryPipe } from '@app/http';
import { WebhookRepository } from '@app/storage';
import { AdminAttemptsQuery, AdminPostbacksQuery } from './postback.schemas';
import {
  POSTBACK_CSV,
  POSTBACK_CSV_EXAMPLE,
  POSTBACK_EXAMPLE,
  WEBHOOK_ATTEMPT_CSV,
  WEBHOOK_ATTEMPT_CSV_EXAMPLE,
  WEBHOOK_ATTEMPT_EXAMPLE,
} from './postback-views';
import { PostbacksService, attemptPosition } from './postbacks.service';

/** Both audiences' endpoints for the network's staff: publishers' postbacks and every delivery attempt. */
@ApiTags('admin')
@ApiBearerAuth()
@Controller('v1/admin')
@UseGuards(ApiKeyGuard)
@Roles('admin')
export class AdminWebhooksController {
  constructor(
    private readonly postbacks: PostbacksService,
    private readonly webhooks: WebhookRepository,
  ) {}

  @Get('postbacks')
  @ApiOperation({ summary: 'Publishers’ partner postbacks (every publisher’s, or one’s), with their health' })
  @ApiQueryFrom(AdminPostbacksQuery)
  @ApiListResponse({ items: [POSTBACK_EXAMPLE] }, POSTBACK_CSV_EXAMPLE)
  async postbackList(@Query(new QueryPipe(AdminPostbacksQuery)) q: Static<typeof AdminPostbacksQuery>, @Headers('accept') accept?: string) {
    const items = await this.postbacks.list(q.publisherId);
    return prefersCsv(accept) ? csvFile(items, POSTBACK_CSV, 'postbacks.csv') : { items };
  }

  @Get('webhooks/attempts')
  @ApiOperation({
    summary: 'Delivery attempts of advertisers’ webhooks and publishers’ postbacks, newest first',
    description: 'Narrow with `owner`, `advertiserId`, `publisherId` or `postbackId`. Page with `cursor`.',
  })
  @ApiQueryFrom(AdminAttemptsQuery)
  @ApiListResponse({ items: [WEBHOOK_ATTEMPT_EXAMPLE], next: null }, WEBHOOK_ATTEMPT_CSV_EXAMPLE)
  attempts(@Query(new QueryPipe(AdminAttemptsQuery)) q: Static<typeof AdminAttemptsQuery>, @Headers('accept') accept?: string) {
    const { cursor: _c, limit: _l, ...filter } = q;
    return pagedList(accept, q, (limit, after) => this.webhooks.attemptsPage({ ...filter, limit, after: attemptPosition(after) }), {
      columns: WEBHOOK_ATTEMPT_CSV,
      filename: 'webhook-attempts.csv',
    });
  }
}
