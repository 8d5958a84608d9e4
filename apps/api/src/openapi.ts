import { DynamicModule, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { ArbiterConfig, ConfigModule } from '@app/config';
import { documentInputErrors } from '@app/http';
import { IngestModule } from '@app/ingest';
import { MessagingModule } from '@app/messaging';
import { StorageModule } from '@app/storage';

const DESCRIPTION = `Arbiter scores every click and conversion of an affiliate network and explains each decision.

- **Advertisers** read their conversions' decisions (approved / rejected / hold, with reasons and evidence), their KPIs,
  send feedback, and set the webhook that receives every decision, signed (see docs/webhooks.md).
- **Publishers** read exactly why their traffic was rejected, and their KPIs, and register partner postbacks that
  tell their tracker about every decision, signed like the webhooks (see docs/webhooks.md).
- **Admins** run the catalog, API keys, rule sets, models and the review queue of held conversions.

Authenticate with \`Authorization: Bearer <key>\`. A missing, unknown or revoked key gets 401; a key of the wrong role 403;
another tenant's data reads as 404 or is simply absent. Each key may make \`API_RATE_LIMIT_PER_MINUTE\` requests per minute
(429 with \`Retry-After\` beyond). Errors are \`{ error, message, errors?: [{ field, message }] }\`. Text PostgreSQL cannot
store — a NUL (U+0000) or an unpaired surrogate (\`\\ud800\` alone) — in any path parameter, query field or JSON body
(value or key) is refused on every endpoint with 400 naming the field (an event of a batch: that event only, 207); emoji and other text beyond the BMP are stored as sent.

Event ingestion (\`/v1/clicks\`, \`/v1/conversions\`, the tracking link \`/c/{offerId}\`, \`/postback\`) is served by
the **gateway**, on its own port; those paths name the gateway as their server.`;

/**
 * The OpenAPI document of the whole HTTP surface: the api app's routes, and the gateway's with the
 * gateway as their server. The gateway's routes are read from the ingest module it serves, without
 * starting it.
 */
export async function buildOpenApiDocument(api: NestFastifyApplication, config: ArbiterConfig): Promise<OpenAPIObject> {
  const base = new DocumentBuilder()
    .setTitle('Arbiter API')
    .setDescription(DESCRIPTION)
    .setVersion(process.env.npm_package_version ?? '0.1.0')
    .addServer('/', 'this API')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'an API key (admin, advertiser or publisher)' })
    .addTag('advertiser', 'Decisions, KPIs, feedback and webhook of the calling advertiser')
    .addTag('publisher', 'Rejections with reasons, KPIs and partner postbacks of the calling publisher')
    .addTag('review', 'Held conversions and the analysts who settle them')
    .addTag('admin', 'Catalog, API keys, rule sets, models, network KPIs, webhook dead letters')
    .addTag('ingest', 'Events in (gateway)')
    .addTag('operations', 'Health and metrics')
    .build();
  const document = SwaggerModule.createDocument(api, base);
  const gateway = await NestFactory.create<NestFastifyApplication>(GatewayRoutes.forRoot(config), new FastifyAdapter(), {
    preview: true,
    logger: false,
  });
  try {
    const gatewayPaths = SwaggerModule.createDocument(gateway, base).paths;
    const gatewayServer = { url: `http://localhost:${config.GATEWAY_PORT}`, description: 'the gateway' };
    for (const [path, item] of Object.entries(gatewayPaths)) {
      if (document.paths[path]) continue; // shared routes (feedback, health) are served by both
      document.paths[path] = { ...item, servers: [gatewayServer] };
    }
  } finally {
    await gateway.close();
  }
  documentInputErrors(document.paths as Record<string, Record<string, unknown>>);
  return document;
}

/**
 * The gateway's own routes (ingest) with the modules they depend on, for a preview (nothing is
 * instantiated or connected); the routes it shares with the api (feedback, health) are the api's.
 */
@Module({})
class GatewayRoutes {
  static forRoot(config: ArbiterConfig): DynamicModule {
    return {
      module: GatewayRoutes,
      imports: [ConfigModule.forRoot(config), MessagingModule.forRoot('gateway'), StorageModule.forRoot('arbiter-gateway'), IngestModule],
    };
  }
}

/** Serves the document at `/openapi.json` and Swagger UI at `/docs`. */
export async function serveOpenApi(api: NestFastifyApplication, config: ArbiterConfig): Promise<void> {
  const document = await buildOpenApiDocument(api, config);
  SwaggerModule.setup('docs', api, document, {
    jsonDocumentUrl: 'openapi.json',
    raw: ['json'],
    customSiteTitle: 'Arbiter API',
    swaggerOptions: { persistAuthorization: true, displayRequestDuration: true },
  });
}
