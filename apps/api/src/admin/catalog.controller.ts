import { Body, Controller, Post, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { ApiKeyGuard, Roles } from '@app/auth';
import { CatalogCache } from '@app/catalog';
import { AdvertiserInput, OfferInput, PublisherInput } from '@app/contracts';
import { SchemaPipe } from '@app/http';
import { CatalogRepository } from '@app/storage';

/**
 * Catalog administration. `POST` creates or updates (by id) and answers 201 or 200; fields left
 * out of an update keep their value. Running scorers and gateways pick changes up at once.
 */
@Controller('v1/admin')
@UseGuards(ApiKeyGuard)
@Roles('admin')
export class CatalogController {
  constructor(
    private readonly catalog: CatalogRepository,
    private readonly cache: CatalogCache,
  ) {}

  @Post('advertisers')
  async advertiser(@Body(new SchemaPipe(AdvertiserInput)) body: AdvertiserInput, @Res() reply: FastifyReply) {
    const { advertiser, created } = await this.catalog.upsertAdvertiser(body);
    this.cache.announceChange();
    reply.code(created ? 201 : 200).send(advertiser);
  }

  @Post('publishers')
  async publisher(@Body(new SchemaPipe(PublisherInput)) body: PublisherInput, @Res() reply: FastifyReply) {
    const { publisher, created } = await this.catalog.upsertPublisher(body);
    this.cache.announceChange();
    reply.code(created ? 201 : 200).send(publisher);
  }

  @Post('offers')
  async offer(@Body(new SchemaPipe(OfferInput)) body: OfferInput, @Res() reply: FastifyReply) {
    const { offer, created } = await this.catalog.upsertOffer(body);
    this.cache.announceChange();
    reply.code(created ? 201 : 200).send(offer);
  }
}
