import type { Queryable } from './database';

/**
 * Vacuums a table whose rows are inserted and soon deleted (a queue of markers, a claim held while
 * something is done), itself, after every `every` rows deleted: without it such a table only grows
 * where autovacuum is off or held back (PGlite never runs it), though it holds few live rows, and
 * every scan of it reads the dead ones. One per process and table; counts the deletes its owner made.
 */
export class ChurnVacuum {
  private deletedSinceVacuum = 0;

  constructor(
    private readonly pool: Queryable,
    private readonly table: string,
    private readonly every: number,
  ) {}

  /**
   * Counts `rows` more deleted rows and vacuums the table once `every` of them were counted since the
   * last vacuum: outside a transaction (`pool`, not a client in one), skipped rather than waited for
   * while another process vacuums it. A failed vacuum throws and is tried again after a tenth of
   * `every` more (not at every count: an error that persists, a read-only standby or a statement
   * timeout, costs one vacuum and one warning per so many deletes, not per delete).
   */
  async deleted(rows: number): Promise<void> {
    this.deletedSinceVacuum += rows;
    if (this.deletedSinceVacuum < this.every) return;
    // Counted from zero before it runs: the callers in parallel meanwhile do not start a second one.
    this.deletedSinceVacuum = 0;
    try {
      await this.pool.query(`VACUUM (SKIP_LOCKED) ${this.table}`);
    } catch (e) {
      this.deletedSinceVacuum += this.every - Math.ceil(this.every / 10);
      throw e;
    }
  }
}
