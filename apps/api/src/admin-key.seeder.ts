import { Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { ARBITER_CONFIG, ArbiterConfig } from '@app/config';
import { componentLogger } from '@app/observability';
import { ApiKeyRepository } from '@app/storage';

/** Registers ARBITER_ADMIN_KEY (hashed) so an operator can call the admin API from the start. */
@Injectable()
export class AdminKeySeeder implements OnApplicationBootstrap {
  constructor(
    @Inject(ARBITER_CONFIG) private readonly config: ArbiterConfig,
    private readonly keys: ApiKeyRepository,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (!this.config.ARBITER_ADMIN_KEY) return;
    const { revoked } = await this.keys.ensureAdminKey(this.config.ARBITER_ADMIN_KEY);
    if (revoked) {
      componentLogger('api').warn('ARBITER_ADMIN_KEY was revoked by an admin and stays revoked: set a new key to use the admin API');
    }
  }
}
