import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { ArbiterConfig, trustProxySetting } from '@app/config';
import { createHttpApp } from '@app/http';
import { GatewayModule } from './gateway.module';

/** The gateway application, configured but not listening. */
export function createGateway(config: ArbiterConfig): Promise<NestFastifyApplication> {
  return createHttpApp(GatewayModule.forRoot(config), {
    bodyLimit: config.GATEWAY_BODY_LIMIT_BYTES,
    trustProxy: trustProxySetting(config.GATEWAY_TRUST_PROXY),
  });
}
