import type { Pool } from 'pg';
import { inTransaction } from '../database';

export interface StoredRuleSetVersion<C> {
  version: number;
  config: C;
  scope: string;
  /** The API key that made the change, and its label as it was then. */
  changedBy: string | null;
  changedByLabel: string | null;
  /** Set when the engine itself made the change (an enforcement block): `{ system: 'enforcement', … }`. */
  changedBySystem: Record<string, unknown> | null;
  /** The structured difference from the version before (null for rows written before it was kept). */
  diff: unknown[] | null;
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

  /** The newest `limit` versions, newest first; `before` pages further back. */
  async history<C>(limit: number, before?: number): Promise<StoredRuleSetVersion<C>[]> {
    const { rows } = await this.pool.query(
      `SELECT * FROM ruleset_versions WHERE ($2::integer IS NULL OR version < $2) ORDER BY version DESC LIMIT $1`,
      [limit, before ?? null],
    );
    return rows.map((r) => toVersion<C>(r));
  }

  async find<C>(version: number): Promise<StoredRuleSetVersion<C> | null> {
    const { rows } = await this.pool.query(`SELECT * FROM ruleset_versions WHERE version = $1`, [version]);
    return rows.length ? toVersion<C>(rows[0]) : null;
  }

  /**
   * Applies `change` to the latest configuration and stores the result as the next version, one
   * change at a time (transaction-scoped advisory lock), so concurrent edits never lose each other.
   * `diff` describes the change for the audit; the actor's key label is kept beside its id, or
   * `system()` (read after `change`) names the part of the engine that made it. A `change` that returns null (nothing to
   * do, as the latest version stands) writes nothing and answers the latest configuration.
   */
  async append<C extends { version: number }>(
    empty: C,
    scope: string,
    changedBy: string | null,
    change: (current: C) => C | null,
    diff: (current: C, next: C) => unknown[],
    system: () => Record<string, unknown> | null = () => null,
  ): Promise<C> {
    return inTransaction(this.pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [RULESET_LOCK]);
      const { rows } = await client.query(`SELECT config FROM ruleset_versions ORDER BY version DESC LIMIT 1`);
      const current = rows.length ? (rows[0].config as C) : empty;
      const changed = change(current);
      if (!changed) return current;
      const next = { ...changed, version: current.version + 1 };
      await client.query(
        `INSERT INTO ruleset_versions (version, config, scope, changed_by, changed_by_label, diff, changed_by_system)
         VALUES ($1, $2, $3, $4, (SELECT label FROM api_keys WHERE id = $4), $5, $6)`,
        [next.version, next, scope, changedBy, JSON.stringify(diff(current, next)), system()],
      );
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
    changedByLabel: (r.changed_by_label as string | null) ?? null,
    changedBySystem: (r.changed_by_system as Record<string, unknown> | null) ?? null,
    diff: (r.diff as unknown[] | null) ?? null,
    createdAt: (r.created_at as Date).toISOString(),
  };
}
