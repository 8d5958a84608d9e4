import { Migration, run } from './migration';

/**
 * Secrets that every process of one deployment must share and that its stored history depends on:
 * the distinct-count hash's key (`DeploymentSecretRepository`). Kept with the history, so that a
 * restored database still reproduces the decisions it records.
 */
export const deploymentSecrets: Migration = {
  id: '0021-deployment-secrets',
  description: "deployment_secrets: secrets every process of the deployment shares (the distinct-count hash's key)",
  async up(db) {
    await run(db, [
      `CREATE TABLE deployment_secrets (
         name text PRIMARY KEY,
         value text NOT NULL,
         created_at timestamptz NOT NULL DEFAULT now()
       )`,
    ]);
  },
};
