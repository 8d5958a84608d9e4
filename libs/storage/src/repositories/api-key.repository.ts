import { createHash, randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import { mintEventId } from '@app/contracts';
import { inTransaction } from '../database';

export type Role = 'admin' | 'advertiser' | 'publisher';
/** `api`: an API key (Authorization: Bearer). `postback`: an advertiser's postback token, good only for sending conversions. */
export type KeyScope = 'api' | 'postback';

/** Who is calling: the role of the key and the publisher or advertiser it speaks for. */
export interface Principal {
  keyId: string;
  role: Role;
  /** Publisher or advertiser id; null for admins. */
  subjectId: string | null;
  scope: KeyScope;
}

/**
 * Keys are 32 random bytes, so a fast hash is enough: there is nothing to brute-force that a
 * slow hash would protect (unlike passwords). Only the SHA-256 is stored.
 */
export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export class ApiKeyRepository {
  constructor(private readonly pool: Pool) {}

  /** Creates a key and returns it in clear text: the only time it is ever shown. */
  async create(role: Role, subjectId: string | null, label?: string): Promise<{ id: string; key: string }> {
    const key = `arb_${role.slice(0, 3)}_${randomBytes(32).toString('base64url')}`;
    const id = mintEventId();
    await this.pool.query('INSERT INTO api_keys (id, role, subject_id, key_hash, label) VALUES ($1, $2, $3, $4, $5)', [
      id,
      role,
      subjectId,
      hashKey(key),
      label ?? null,
    ]);
    return { id, key };
  }

  /**
   * A new postback token for an advertiser; every earlier one is revoked in the same transaction
   * (a rotation). Returned in clear text once, stored hashed like keys.
   */
  async rotatePostbackToken(advertiserId: string): Promise<{ id: string; token: string; revoked: number }> {
    const token = `arb_pbt_${randomBytes(24).toString('base64url')}`;
    const id = mintEventId();
    // In `inTransaction`: a client whose transaction failed is discarded, never pooled mid-transaction
    // (a timed-out statement may still run; the pool's next user would commit its half).
    return inTransaction(this.pool, async (client) => {
      const { rowCount } = await client.query(
        `UPDATE api_keys SET revoked_at = now() WHERE role = 'advertiser' AND subject_id = $1 AND scope = 'postback' AND revoked_at IS NULL`,
        [advertiserId],
      );
      await client.query(
        `INSERT INTO api_keys (id, role, subject_id, key_hash, label, scope) VALUES ($1, 'advertiser', $2, $3, 'postback token', 'postback')`,
        [id, advertiserId, hashKey(token)],
      );
      return { id, token, revoked: rowCount ?? 0 };
    });
  }

  /**
   * Registers an operator-chosen admin key (ARBITER_ADMIN_KEY); idempotent. A key an admin has
   * revoked stays revoked: a restart with the old variable must not bring it back.
   */
  async ensureAdminKey(key: string): Promise<{ revoked: boolean }> {
    await this.pool.query(
      `INSERT INTO api_keys (id, role, subject_id, key_hash, label) VALUES ($1, 'admin', NULL, $2, 'ARBITER_ADMIN_KEY')
       ON CONFLICT (key_hash) DO NOTHING`,
      [mintEventId(), hashKey(key)],
    );
    const { rows } = await this.pool.query('SELECT revoked_at FROM api_keys WHERE key_hash = $1', [hashKey(key)]);
    return { revoked: rows[0]?.revoked_at != null };
  }

  async authenticate(key: string): Promise<Principal | null> {
    const { rows } = await this.pool.query('SELECT id, role, subject_id, scope FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL', [
      hashKey(key),
    ]);
    return rows.length ? { keyId: rows[0].id, role: rows[0].role, subjectId: rows[0].subject_id, scope: rows[0].scope } : null;
  }

  async revoke(id: string): Promise<boolean> {
    const { rowCount } = await this.pool.query('UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL', [id]);
    return (rowCount ?? 0) > 0;
  }

  /** Keys without their hashes. */
  async list(): Promise<
    {
      id: string;
      role: Role;
      subjectId: string | null;
      scope: KeyScope;
      label: string | null;
      createdAt: string;
      revokedAt: string | null;
    }[]
  > {
    const { rows } = await this.pool.query(
      `SELECT id, role, subject_id, scope, label, created_at, revoked_at FROM api_keys ORDER BY created_at DESC`,
    );
    return rows.map((r) => ({
      id: r.id,
      role: r.role,
      subjectId: r.subject_id,
      scope: r.scope,
      label: r.label,
      createdAt: (r.created_at as Date).toISOString(),
      revokedAt: r.revoked_at ? (r.revoked_at as Date).toISOString() : null,
    }));
  }
}
