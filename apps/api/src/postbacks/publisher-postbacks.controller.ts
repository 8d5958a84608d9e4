import { Body, Controller, Delete, Get, Headers, HttpCode, Param, Post, Put, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { Static } from '@sinclair/typebox';
import { ApiKeyGuard, CurrentPrincipal, Roles } from '@app/auth';
import { ApiListResponse, ApiQueryFrom, csvFile, pagedList, plain, prefersCsv, QueryPipe, SchemaPipe } from '@app/http';
import { Principal } from '@app/storage';
import { PostbackAttemptsQuery, PostbackChange, PostbackInput } from './postback.schemas';
import {
  POSTBACK_ATTEMPT_CSV,
  POSTBACK_ATTEMPT_CSV_EXAMPLE,
  POSTBACK_ATTEMPT_EXAMPLE,
  POSTBACK_CSV,
  POSTBACK_CSV_EXAMPLE,
  POSTBACK_EXAMPLE,
} from './postback-views';
import { PostbacksService } from './postbacks.service';

const SECRET_EXAMPLE = { secret: 'whsec_Xk2…', note: 'store the secret now: it is not shown again' };

/** A publisher's partner postbacks: where Arbiter tells the publisher's tracker about each decision (docs/webhooks.md). */
@ApiTags('publisher')
@ApiBearerAuth()
@Controller('v1/publisher/postbacks')
@UseGuards(ApiKeyGuard)
@Roles('publisher')
export class PublisherPostbacksController {
  constructor(private readonly postbacks: PostbacksService) {}

  @Get()
  @ApiOperation({ summary: 'Your postbacks: templates, scope and health (never the secret)' })
  @ApiListResponse({ items: [POSTBACK_EXAMPLE] }, POSTBACK_CSV_EXAMPLE)
  async list(@CurrentPrincipal() me: Principal, @Headers('accept') accept?: string) {
    const items = await this.postbacks.list(me.subjectId!);
    return prefersCsv(accept) ? csvFile(items, POSTBACK_CSV, 'postbacks.csv') : { items };
  }

  @Post()
  @HttpCode(201)
  @ApiOperation({
    summary: 'Register a postback URL template (for every offer, or one offer)',
    description:
      'Every decision on your conversions, and every later revision (a hold resolved, a review), fires it: a GET to the URL with the macros' +
      ' substituted (URL-encoded), signed with HMAC-SHA256 over the path and query (see docs/webhooks.md), retried, parked and replayable like an' +
      ' advertiser’s webhook. An offer’s own postback replaces the global one for that offer; one of each. The signing secret is returned now' +
      ' and never again. The host must resolve to public addresses only.',
  })
  @ApiBody({
    schema: plain(PostbackInput),
    examples: {
      global: { value: { url: POSTBACK_EXAMPLE.url } },
      offer: { value: { url: 'https://tracker.example/pb/shoes?cid={click_id}&st={status}', offerId: 'shoes' } },
    },
  })
  @ApiResponse({ status: 201, schema: { example: { ...POSTBACK_EXAMPLE, ...SECRET_EXAMPLE } } })
  @ApiResponse({ status: 409, description: 'You already have a postback for that scope (global, or that offer)' })
  create(@Body(new SchemaPipe(PostbackInput)) body: Static<typeof PostbackInput>, @CurrentPrincipal() me: Principal) {
    return this.postbacks.create(me.subjectId!, body);
  }

  @Get('attempts')
  @ApiOperation({
    summary: 'Your postbacks’ delivery attempts, newest first',
    description: 'Each request made (the URL as sent), its answer and outcome (delivered, retry, dead_letter, parked). Page with `cursor`.',
  })
  @ApiQueryFrom(PostbackAttemptsQuery)
  @ApiListResponse({ items: [POSTBACK_ATTEMPT_EXAMPLE], next: null }, POSTBACK_ATTEMPT_CSV_EXAMPLE)
  attempts(
    @Query(new QueryPipe(PostbackAttemptsQuery)) q: Static<typeof PostbackAttemptsQuery>,
    @CurrentPrincipal() me: Principal,
    @Headers('accept') accept?: string,
  ) {
    return pagedList(accept, q, (limit, after) => this.postbacks.attempts(me.subjectId!, { postbackId: q.postbackId, limit, after }), {
      columns: POSTBACK_ATTEMPT_CSV,
      filename: 'postback-attempts.csv',
    });
  }

  @Post('replay')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Deliver again what your postbacks could not take',
    description: 'Dead-lettered postback deliveries go back on the queue with a fresh retry budget; your postbacks are un-parked.',
  })
  @ApiResponse({ status: 200, schema: { example: { requeued: 12 } } })
  async replay(@CurrentPrincipal() me: Principal) {
    const { requeued } = await this.postbacks.replay(me.subjectId!, me.keyId);
    return { requeued };
  }

  @Put(':id')
  @ApiOperation({
    summary: 'Change a postback: its template, its offer, or rotate its secret',
    description:
      'Fields left out keep their value. `rotateSecret` returns a new secret, once; the previous one keeps signing beside it for' +
      ' `WEBHOOK_SECRET_OVERLAP_HOURS`. Any change un-parks the postback.',
  })
  @ApiBody({
    schema: plain(PostbackChange),
    examples: {
      template: { value: { url: 'https://tracker.example/v2?cid={click_id}&st={status}' } },
      rotate: { value: { rotateSecret: true } },
    },
  })
  @ApiResponse({ status: 200, schema: { example: { ...POSTBACK_EXAMPLE, ...SECRET_EXAMPLE } } })
  @ApiResponse({ status: 404, description: 'You have no postback with that id' })
  update(
    @Param('id') id: string,
    @Body(new SchemaPipe(PostbackChange)) body: Static<typeof PostbackChange>,
    @CurrentPrincipal() me: Principal,
  ) {
    return this.postbacks.update(me.subjectId!, id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({
    summary: 'Delete a postback',
    description: 'Deliveries still queued go to the postback that covers their offer then (the global one), or are dropped when none does.',
  })
  @ApiResponse({ status: 204, description: 'Deleted' })
  @ApiResponse({ status: 404, description: 'You have no postback with that id' })
  async remove(@Param('id') id: string, @CurrentPrincipal() me: Principal): Promise<void> {
    await this.postbacks.delete(me.subjectId!, id);
  }
}
