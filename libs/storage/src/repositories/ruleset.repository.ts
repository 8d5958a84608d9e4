import type { Pool } from 'pg';
import { inTransaction } from '../database';

export interface StoredRuleSetVersion<C> {
  version: number;
  config: C;
  scope: string;
  changedBy: string | null;
  createdAt: string;
}

// Serialises rule-set changes across API instances (any fixed number).
const RULESET_LOCK = 0x52756c65; // "Rule"

/** Every version of the network's rule-set configuration, newest last. */
export class RuleSetRepository {
  constructor(private readonly pool: Pool) {}

  async latest<C>(): Promise<StoredRuleSetVersion<C> | null> {
    const { rows } = await this.pool.query(`SELECT * FROM ruleset_versions ORDER BY version DESC LIMIT 1`);
    return rows.length ? toVersion<C>(rows[0]) : null;
  }

  async history<C>(limit: number): Promise<StoredRuleSetVersion<C>[]> {
    const { rows } = await this.pool.query(`SELECT * FROM ruleset_versions ORDER BY version DESC LIMIT $1`, [limit]);
    return rows.map((r) => toVersion<C>(r));
  }

  /**
   * Applies `change` to the latest configuration and stores the result as the next version, one
   * change at a time (transaction-scoped advisory lock), so concurrent edits never lose each other.
   */
  async append<C extends { version: number }>(empty: C, scope: string, changedBy: string | null, change: (current: C) => C): Promise<C> {
    return inTransaction(this.pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [RULESET_LOCK]);
      const { rows } = await client.query(`SELECT config FROM ruleset_versions ORDER BY version DESC LIMIT 1`);
      const current = rows.length ? (rows[0].config as C) : empty;
      const next = { ...change(current), version: current.version + 1 };
      await client.query(`INSERT INTO ruleset_versions (version, config, scope, changed_by) VALUES ($1, $2, $3, $4)`, [
        next.version,
        next,
        scope,
        changedBy,
      ]);
      return next;
    });
  }
}

function toVersion<C>(r: Record<string, unknown>): StoredRuleSetVersion<C> {
  return {
    version: r.version as number,
    config: r.config as C,
    scope: r.scope as string,
    changedBy: (r.changed_by as string | null) ?? null,
    createdAt: (r.created_at as Date).toISOString(),
  };
}
