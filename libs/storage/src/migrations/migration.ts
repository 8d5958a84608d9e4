import type { Queryable } from '../database';
import type { Dialect } from '../dialect';

/** A forward-only schema change. Ids sort in the order they apply; applied ones never change. */
export interface Migration {
  id: string;
  description: string;
  up(db: Queryable, dialect: Dialect): Promise<void>;
}

/** Runs statements in order. */
export async function run(db: Queryable, statements: string[]): Promise<void> {
  for (const sql of statements) await db.query(sql);
}
