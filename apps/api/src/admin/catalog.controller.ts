import { Body, Controller, Delete, Get, Headers, HttpCode, Param, Post, Put, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { ApiKeyGuard, Roles } from '@app/auth';
import { AdvertiserInput, OfferInput, PublisherInput, PublisherPayoutInput } from '@app/contracts';
import { ApiListResponse, SchemaPipe, csvFile, csvText, fieldColumns, fieldsOf, plain, prefersCsv } from '@app/http';
import { CatalogService } from './catalog.service';

const ADVERTISER_EXAMPLE = { id: 'shop', name: 'Shop Inc.', status: 'active', webhookUrl: 'https://shop.example/arbiter' };
const PUBLISHER_EXAMPLE = { id: 'blog', name: 'A blog', status: 'active' };
const OFFER_EXAMPLE = {
  id: 'shoes',
  advertiserId: 'shop',
  name: 'Shoes',
  url: 'https://shop.example/?cid={click_id}',
  status: 'active',
  revenueModel: 'percent',
  revenue: 8,
  payoutModel: 'fixed',
  payout: 4.5,
  publisherPayouts: { blog: { payoutModel: 'fixed', payout: 5 } },
  currency: 'USD',
  allowedCountries: ['US', 'CA'],
  maxConversionsPerClick: 1,
  holdThreshold: null,
  rejectThreshold: null,
};

/**
 * Catalog administration. `POST` creates or updates (by id) and answers 201 or 200; fields left
 * out of an update keep their value. Running scorers and gateways pick changes up at once.
 */
@ApiTags('admin')
@ApiBearerAuth()
@Controller('v1/admin')
@UseGuards(ApiKeyGuard)
@Roles('admin')
export class CatalogController {
  constructor(private readonly catalog: CatalogService) {}

  @Get('advertisers')
  @ApiOperation({ summary: 'Every advertiser' })
  @ApiListResponse([ADVERTISER_EXAMPLE], csvText([ADVERTISER_EXAMPLE], fieldColumns(fieldsOf([ADVERTISER_EXAMPLE]))))
  async advertisers(@Headers('accept') accept?: string) {
    const rows = (await this.catalog.snapshot()).advertisers;
    // The whole catalog table is in memory for the JSON answer too; the CSV is written from it.
    return prefersCsv(accept) ? csvFile(rows, fieldColumns(fieldsOf(rows, [], ADVERTISER_EXAMPLE)), 'advertisers.csv') : rows;
  }

  @Get('publishers')
  @ApiOperation({ summary: 'Every publisher' })
  @ApiListResponse([PUBLISHER_EXAMPLE], csvText([PUBLISHER_EXAMPLE], fieldColumns(fieldsOf([PUBLISHER_EXAMPLE]))))
  async publishers(@Headers('accept') accept?: string) {
    const rows = (await this.catalog.snapshot()).publishers;
    // The whole catalog table is in memory for the JSON answer too; the CSV is written from it.
    return prefersCsv(accept) ? csvFile(rows, fieldColumns(fieldsOf(rows, [], PUBLISHER_EXAMPLE)), 'publishers.csv') : rows;
  }

  @Get('offers')
  @ApiOperation({ summary: 'Every offer' })
  @ApiListResponse([OFFER_EXAMPLE], csvText([OFFER_EXAMPLE], fieldColumns(fieldsOf([OFFER_EXAMPLE]))))
  async offers(@Headers('accept') accept?: string) {
    const rows = (await this.catalog.snapshot()).offers;
    // The whole catalog table is in memory for the JSON answer too; the CSV is written from it.
    return prefersCsv(accept) ? csvFile(rows, fieldColumns(fieldsOf(rows, [], OFFER_EXAMPLE)), 'offers.csv') : rows;
  }

  @Post('advertisers')
  @ApiOperation({
    summary: 'Create or update an advertiser (by id)',
    description:
      '201 when created, 200 when updated; fields left out keep their value. Giving a `webhookUrl` to an advertiser without a signing secret' +
      ' creates one and returns it as `webhookSecret`, once (the advertiser can rotate it with `PUT /v1/advertiser/webhook`).',
  })
  @ApiBody({
    schema: plain(AdvertiserInput),
    examples: {
      create: { value: { id: 'shop', name: 'Shop Inc.' } },
      withWebhook: { value: { id: 'shop', name: 'Shop Inc.', webhookUrl: 'https://shop.example/arbiter' } },
    },
  })
  @ApiResponse({
    status: 201,
    schema: {
      example: { ...ADVERTISER_EXAMPLE, webhookSecret: 'whsec_Xk2…', note: 'store the webhook secret now: it is not shown again' },
    },
  })
  @ApiResponse({ status: 200, description: 'updated', schema: { example: ADVERTISER_EXAMPLE } })
  async advertiser(@Body(new SchemaPipe(AdvertiserInput)) body: AdvertiserInput, @Res() reply: FastifyReply) {
    const { advertiser, created, secret } = await this.catalog.upsertAdvertiser(body);
    reply
      .code(created ? 201 : 200)
      .send(secret ? { ...advertiser, webhookSecret: secret, note: 'store the webhook secret now: it is not shown again' } : advertiser);
  }

  @Post('publishers')
  @ApiOperation({ summary: 'Create or update a publisher (by id)', description: '201 when created, 200 when updated.' })
  @ApiBody({ schema: plain(PublisherInput), examples: { create: { value: { id: 'blog', name: 'A blog' } } } })
  @ApiResponse({ status: 201, schema: { example: PUBLISHER_EXAMPLE } })
  @ApiResponse({ status: 200, description: 'updated', schema: { example: PUBLISHER_EXAMPLE } })
  async publisher(@Body(new SchemaPipe(PublisherInput)) body: PublisherInput, @Res() reply: FastifyReply) {
    const { publisher, created } = await this.catalog.upsertPublisher(body);
    reply.code(created ? 201 : 200).send(publisher);
  }

  @Post('offers')
  @ApiOperation({
    summary: 'Create or update an offer (by id)',
    description:
      '201 when created, 200 when updated. The advertiser must exist. `{click_id}` in `url` is replaced by the click id on redirect.' +
      ' `holdThreshold` / `rejectThreshold` override the rule set’s for this offer.' +
      ' Money (DESIGN §7): `revenueModel` + `revenue` is what the advertiser owes the network per approved conversion (`fixed`: an amount;' +
      ' `percent`: of the sale amount, default 100 %), `payoutModel` + `payout` what the network owes the publisher (default `fixed`);' +
      ' a publisher may have its own payout (`PUT /v1/admin/offers/{offerId}/payouts/{publisherId}`). Both are computed by the network' +
      ' when it decides, never taken from the advertiser.',
  })
  @ApiBody({
    schema: plain(OfferInput),
    examples: {
      create: {
        value: {
          id: 'shoes',
          advertiserId: 'shop',
          name: 'Shoes',
          revenueModel: 'percent',
          revenue: 8,
          payout: 4.5,
          url: 'https://shop.example/?cid={click_id}',
          allowedCountries: ['US', 'CA'],
        },
      },
    },
  })
  @ApiResponse({ status: 201, schema: { example: OFFER_EXAMPLE } })
  @ApiResponse({ status: 200, description: 'updated', schema: { example: OFFER_EXAMPLE } })
  @ApiResponse({
    status: 400,
    description: 'invalid, or the advertiser does not exist',
    schema: {
      example: {
        error: 'validation_failed',
        message: 'advertiserId "shop" does not exist',
        errors: [{ field: 'advertiserId', message: 'does not exist' }],
      },
    },
  })
  async offer(@Body(new SchemaPipe(OfferInput)) body: OfferInput, @Res() reply: FastifyReply) {
    const { offer, created } = await this.catalog.upsertOffer(body);
    reply.code(created ? 201 : 200).send(offer);
  }

  @Put('offers/:offerId/payouts/:publisherId')
  @ApiOperation({
    summary: 'Give a publisher its own payout on an offer',
    description:
      'Overrides the offer’s payout for this publisher’s conversions from now on (decisions already made keep theirs):' +
      ' `fixed` (an amount, the default) or `percent` of the sale amount. 404 when the offer or the publisher does not exist.',
  })
  @ApiParam({ name: 'offerId' })
  @ApiParam({ name: 'publisherId' })
  @ApiBody({
    schema: plain(PublisherPayoutInput),
    examples: { fixed: { value: { payout: 5 } }, percent: { value: { payoutModel: 'percent', payout: 12 } } },
  })
  @ApiResponse({ status: 200, schema: { example: { offerId: 'shoes', publisherId: 'blog', payoutModel: 'fixed', payout: 5 } } })
  @ApiResponse({ status: 404, description: 'no such offer or publisher' })
  async setPublisherPayout(
    @Param('offerId') offerId: string,
    @Param('publisherId') publisherId: string,
    @Body(new SchemaPipe(PublisherPayoutInput)) body: PublisherPayoutInput,
  ) {
    return this.catalog.setPublisherPayout(offerId, publisherId, body);
  }

  @Delete('offers/:offerId/payouts/:publisherId')
  @HttpCode(204)
  @ApiOperation({ summary: 'Remove a publisher’s own payout on an offer (the offer’s applies again)' })
  @ApiParam({ name: 'offerId' })
  @ApiParam({ name: 'publisherId' })
  @ApiResponse({ status: 204, description: 'removed' })
  @ApiResponse({ status: 404, description: 'the publisher had no payout of its own on this offer' })
  async removePublisherPayout(@Param('offerId') offerId: string, @Param('publisherId') publisherId: string): Promise<void> {
    await this.catalog.removePublisherPayout(offerId, publisherId);
  }
}
