import { Module } from '@nestjs/common';
import { ApiKeyGuard } from '@app/auth';
import { CatalogModule } from '@app/catalog';
import { ClickGuard } from './click-guard.service';
import { IngestAuthenticator } from './ingest-auth.service';
import { IngestController } from './ingest.controller';
import { IngestLimiter } from './ingest-limiter';
import { IngestService } from './ingest.service';
import { TrackingController } from './tracking.controller';

/**
 * The gateway's HTTP intake: `/v1/clicks`, `/v1/conversions`, the tracking link, the pixel and the
 * postback. Needs ConfigModule, MessagingModule and StorageModule (global) beside it; the gateway
 * app wires it, and the API's OpenAPI document reads its routes from it without starting it.
 */
@Module({
  imports: [CatalogModule],
  controllers: [IngestController, TrackingController],
  providers: [IngestService, IngestAuthenticator, ClickGuard, IngestLimiter, ApiKeyGuard],
})
export class IngestModule {}
