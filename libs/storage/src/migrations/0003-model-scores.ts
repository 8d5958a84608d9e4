import { Migration, run } from './migration';

/** Model scores on every outcome: the active model's, and a shadow candidate's beside it. */
export const modelScores: Migration = {
  id: '0003-model-scores',
  description: 'model and shadow-model scores on verdicts and decisions; model versions',
  async up(db) {
    await run(db, [
      ...['click_verdicts', 'decisions'].map(
        (table) => `ALTER TABLE ${table}
           ADD COLUMN model_score real,
           ADD COLUMN shadow_model_version text,
           ADD COLUMN shadow_score real`,
      ),
      `CREATE TABLE model_versions (
         version text PRIMARY KEY,
         card jsonb NOT NULL,
         thresholds jsonb NOT NULL,
         size_bytes integer NOT NULL,
         published_at timestamptz NOT NULL DEFAULT now(),
         published_by text)`,
    ]);
  },
};
