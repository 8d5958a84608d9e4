import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ConfigModule, loadConfig } from '@app/config';
import { DISTINCT_SECRET, DeploymentSecretRepository, StorageModule, createPool, migrate } from '@app/storage';
import { createTestDatabase } from '@app/testing';

/**
 * The deployment's distinct-count secret (docs/trust.md): made once, by whichever process starts
 * first, and read alike by every later one, so that the scorers, their rebuilds and the API's
 * backtests count distinct values with one key, which no sender knows.
 */
describe('the deployment secret of the distinct counts', () => {
  it('is made on first use and read alike by every process, however many start at once', async () => {
    const db = await createTestDatabase();
    const pools = [0, 1, 2].map(() => createPool({ url: db.url, max: 2, applicationName: 'secrets-test' }));
    try {
      await migrate(pools[0]);
      // Three first starts at once: one value wins, all three read it.
      const first = await Promise.all(pools.map((p) => new DeploymentSecretRepository(p).distinctHash()));
      expect(first[0]).toMatch(/^[0-9a-f]{16}$/);
      expect(new Set(first).size).toBe(1);
      // A restart reads it again.
      expect(await new DeploymentSecretRepository(pools[2]).distinctHash()).toBe(first[0]);

      // A service (scorer, API) gets it from the storage module, as it boots.
      @Module({ imports: [ConfigModule.forRoot(loadConfig({ DATABASE_URL: db.url })), StorageModule.forRoot('secrets-test')] })
      class Service {}
      const app = await NestFactory.createApplicationContext(Service, { logger: false });
      try {
        expect(app.get(DISTINCT_SECRET)).toBe(first[0]);
      } finally {
        await app.close();
      }

      // Another deployment (database) has its own.
      const other = await createTestDatabase();
      const pool = createPool({ url: other.url, max: 1, applicationName: 'secrets-test' });
      try {
        await migrate(pool);
        expect(await new DeploymentSecretRepository(pool).distinctHash()).not.toBe(first[0]);
      } finally {
        await pool.end();
        await other.drop();
      }
    } finally {
      await Promise.all(pools.map((p) => p.end()));
      await db.drop();
    }
  });
});
