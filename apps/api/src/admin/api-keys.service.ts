import { BadRequestException, Injectable } from '@nestjs/common';
import { ApiKeyRepository, CatalogRepository } from '@app/storage';

type Role = 'admin' | 'advertiser' | 'publisher';

/** API keys and advertisers' postback tokens: created here, shown once; only their hash is stored. */
@Injectable()
export class ApiKeysService {
  constructor(
    private readonly keys: ApiKeyRepository,
    private readonly catalog: CatalogRepository,
  ) {}

  list() {
    return this.keys.list();
  }

  /** A key for an admin, or for an advertiser or publisher that exists. */
  async create(role: Role, subjectId: string | undefined, label: string | undefined) {
    if (role !== 'admin') {
      if (!subjectId) throw badRequest('subjectId', `is required for a ${role} key`);
      const exists = role === 'publisher' ? await this.catalog.findPublisher(subjectId) : await this.catalog.findAdvertiser(subjectId);
      if (!exists) throw badRequest('subjectId', `${role} "${subjectId}" does not exist`);
    } else if (subjectId) {
      throw badRequest('subjectId', 'must be absent for an admin key');
    }
    const subject = role === 'admin' ? null : subjectId!;
    const { id, key } = await this.keys.create(role, subject, label);
    return { id, key, role, subjectId: subject, note: 'store the key now: it is not shown again' };
  }

  /** A new postback token for the advertiser, revoking its previous one (an admin's or the advertiser's own request). */
  async rotatePostbackToken(advertiserId: string) {
    if (!(await this.catalog.findAdvertiser(advertiserId))) throw badRequest('advertiserId', `advertiser "${advertiserId}" does not exist`);
    const { id, token, revoked } = await this.keys.rotatePostbackToken(advertiserId);
    return { id, token, revokedPrevious: revoked, note: 'store the token now: it is not shown again' };
  }

  /** Revokes a key; false when there is no active key with that id. */
  revoke(id: string): Promise<boolean> {
    return this.keys.revoke(id);
  }
}

function badRequest(field: string, message: string) {
  return new BadRequestException({ error: 'validation_failed', message: `${field} ${message}`, errors: [{ field, message }] });
}
