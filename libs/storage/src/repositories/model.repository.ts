import type { Pool } from 'pg';

export interface ModelVersionRow {
  version: string;
  card: Record<string, unknown>;
  thresholds: { click: number; conversion: number };
  sizeBytes: number;
  publishedAt: string;
  publishedBy: string | null;
}

/** Published model versions (the artifacts themselves live in the NATS object store). */
export class ModelRepository {
  constructor(private readonly pool: Pool) {}

  async upsert(row: Omit<ModelVersionRow, 'publishedAt'>): Promise<void> {
    await this.pool.query(
      `INSERT INTO model_versions (version, card, thresholds, size_bytes, published_by) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (version) DO UPDATE SET card = EXCLUDED.card, thresholds = EXCLUDED.thresholds, size_bytes = EXCLUDED.size_bytes,
         published_by = EXCLUDED.published_by, published_at = now()`,
      [row.version, row.card, row.thresholds, row.sizeBytes, row.publishedBy],
    );
  }

  async list(): Promise<ModelVersionRow[]> {
    const { rows } = await this.pool.query(`SELECT * FROM model_versions ORDER BY published_at DESC`);
    return rows.map((r) => ({
      version: r.version,
      card: r.card,
      thresholds: r.thresholds,
      sizeBytes: r.size_bytes,
      publishedAt: (r.published_at as Date).toISOString(),
      publishedBy: r.published_by,
    }));
  }

  async exists(version: string): Promise<boolean> {
    return (await this.pool.query(`SELECT 1 FROM model_versions WHERE version = $1`, [version])).rowCount === 1;
  }
}
