import { DynamicModule, Global, Module } from '@nestjs/common';
import { ArbiterConfig } from './config.schema';

/** DI token for the validated configuration object. */
export const ARBITER_CONFIG = Symbol('ARBITER_CONFIG');

/** Makes one already-validated configuration available to every provider of an app. */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: ArbiterConfig): DynamicModule {
    return { module: ConfigModule, providers: [{ provide: ARBITER_CONFIG, useValue: config }], exports: [ARBITER_CONFIG] };
  }
}
