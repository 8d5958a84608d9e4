import type { Pool } from 'pg';

/** The distinct-count hash's key: 64 bits, as 16 lower-case hex digits. */
const DISTINCT_HASH = 'distinct-hash';

/** A secret the migrations make is not in the database (a restore that lost the row, a hand-made schema). */
export class MissingDeploymentSecret extends Error {
  constructor(name: string) {
    super(
      `deployment_secrets has no '${name}' row (migration 0023 makes it): put back the value this deployment had, ` +
        'or delete the migration record and run `arbiter migrate` to make a new one (distinct counts then differ from recorded decisions)',
    );
    this.name = 'MissingDeploymentSecret';
  }
}

/**
 * Secrets one deployment shares across all its processes and restarts. The database generates them
 * (migration 0023, once, under the migration lock); processes only read them, so no value travels
 * in a statement's parameters (which statement logging would record). Never logged, never exported
 * by an API.
 */
export class DeploymentSecretRepository {
  constructor(private readonly pool: Pool) {}

  /**
   * The key of the distinct-count sketches' value hash (`FeatureStateOptions.distinctSecret`): the
   * scorers, their state rebuild, the API's backtests and `arbiter train --from-db` must count alike.
   * Read only: a caller never makes one.
   */
  distinctHash(): Promise<string> {
    return this.read(DISTINCT_HASH);
  }

  private async read(name: string): Promise<string> {
    const { rows } = await this.pool.query<{ value: string }>(`SELECT value FROM deployment_secrets WHERE name = $1`, [name]);
    if (!rows.length) throw new MissingDeploymentSecret(name);
    return rows[0].value;
  }
}
