import { createHash, randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import { mintEventId } from '@app/contracts';

export type Role = 'admin' | 'advertiser' | 'publisher';

/** Who is calling: the role of the key and the publisher or advertiser it speaks for. */
export interface Principal {
  keyId: string;
  role: Role;
  /** Publisher or advertiser id; null for admins. */
  subjectId: string | null;
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

  /** Registers an operator-chosen admin key (ARBITER_ADMIN_KEY); idempotent. */
  async ensureAdminKey(key: string): Promise<void> {
    await this.pool.query(
      `INSERT INTO api_keys (id, role, subject_id, key_hash, label) VALUES ($1, 'admin', NULL, $2, 'ARBITER_ADMIN_KEY')
       ON CONFLICT (key_hash) DO UPDATE SET revoked_at = NULL`,
      [mintEventId(), hashKey(key)],
    );
  }

  async authenticate(key: string): Promise<Principal | null> {
    const { rows } = await this.pool.query('SELECT id, role, subject_id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL', [
      hashKey(key),
    ]);
    return rows.length ? { keyId: rows[0].id, role: rows[0].role, subjectId: rows[0].subject_id } : null;
  }

  async revoke(id: string): Promise<boolean> {
    const { rowCount } = await this.pool.query('UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL', [id]);
    return (rowCount ?? 0) > 0;
  }

  /** Keys without their hashes. */
  async list(): Promise<
    { id: string; role: Role; subjectId: string | null; label: string | null; createdAt: string; revokedAt: string | null }[]
  > {
    const { rows } = await this.pool.query(
      `SELECT id, role, subject_id, label, created_at, revoked_at FROM api_keys ORDER BY created_at DESC`,
    );
    return rows.map((r) => ({
      id: r.id,
      role: r.role,
      subjectId: r.subject_id,
      label: r.label,
      createdAt: (r.created_at as Date).toISOString(),
      revokedAt: r.revoked_at ? (r.revoked_at as Date).toISOString() : null,
    }));
  }
}
