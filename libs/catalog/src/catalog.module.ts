import { Module } from '@nestjs/common';
import { CatalogCache } from './catalog.cache';

/** Needs `StorageModule` and `MessagingModule` in the importing app. */
@Module({ providers: [CatalogCache], exports: [CatalogCache] })
export class CatalogModule {}
