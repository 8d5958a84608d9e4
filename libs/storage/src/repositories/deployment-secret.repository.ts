import { randomBytes } from 'node:crypto';
import type { Pool } from 'pg';

/** The distinct-count hash's key: 64 bits, as 16 lower-case hex digits. */
const DISTINCT_HASH = 'distinct-hash';

/**
 * Secrets one deployment shares across all its processes and restarts, generated on first use.
 * The first process to ask creates the value; every later one, in any process, reads that same
 * value (INSERT … ON CONFLICT DO NOTHING, then read: two first starts at once agree too). Never
 * logged, never exported by an API.
 */
export class DeploymentSecretRepository {
  constructor(private readonly pool: Pool) {}

  /**
   * The key of the distinct-count sketches' value hash (`useDistinctSecret`): the scorers, their
   * state rebuild and the API's backtests must count alike to reproduce each other's decisions.
   */
  distinctHash(): Promise<string> {
    return this.getOrCreate(DISTINCT_HASH, () => randomBytes(8).toString('hex'));
  }

  private async getOrCreate(name: string, generate: () => string): Promise<string> {
    await this.pool.query(`INSERT INTO deployment_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, [name, generate()]);
    const { rows } = await this.pool.query<{ value: string }>(`SELECT value FROM deployment_secrets WHERE name = $1`, [name]);
    return rows[0].value;
  }
}
