import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';

/**
 * Issue 18: the production shape is secure by default. No Docker engine runs the tests, so this reads
 * docker-compose.yml as compose does (YAML with merge keys, `${VAR:?message}` interpolation) and checks
 * the promises the README makes about it.
 */
const ROOT = resolve(__dirname, '../..');
const text = readFileSync(resolve(ROOT, 'docker-compose.yml'), 'utf8');
const ARBITER = ['gateway', 'scorer', 'recorder', 'notifier', 'api'];
const SECRETS = ['ARBITER_ADMIN_KEY', 'POSTGRES_PASSWORD', 'GRAFANA_ADMIN_PASSWORD'];

/** Compose's interpolation of `${VAR}`, `${VAR:-default}` and `${VAR:?error}` (the forms this file may use). */
function interpolate(source: string, env: Record<string, string | undefined>): string {
  return source.replace(/\$\{(\w+)(?:(:-|:\?)([^}]*))?\}/g, (_m, name: string, op?: string, arg?: string) => {
    const value = env[name];
    if (value !== undefined && value !== '') return value;
    if (op === ':?') throw new Error(`required variable ${name} is missing a value: ${arg}`);
    return op === ':-' ? (arg ?? '') : '';
  });
}

const ENV = { ARBITER_ADMIN_KEY: 'k'.repeat(64), POSTGRES_PASSWORD: 'pgsecret0123', GRAFANA_ADMIN_PASSWORD: 'grafanasecret' };
const compose = parse(interpolate(text, ENV), { merge: true });
const services: Record<string, any> = compose.services;

describe('docker-compose.yml', () => {
  it.each(SECRETS)('refuses to start without %s, and has no default for it', (secret) => {
    expect(() => interpolate(text, { ...ENV, [secret]: undefined })).toThrow(`required variable ${secret}`);
    expect(text).not.toMatch(new RegExp(`\\$\\{${secret}:-`));
  });

  it('takes every password from the environment', () => {
    expect(services.timescaledb.environment.POSTGRES_PASSWORD).toBe(ENV.POSTGRES_PASSWORD);
    expect(services.grafana.environment.GF_SECURITY_ADMIN_PASSWORD).toBe(ENV.GRAFANA_ADMIN_PASSWORD);
    for (const name of ARBITER) {
      expect(services[name].environment.ARBITER_ADMIN_KEY).toBe(ENV.ARBITER_ADMIN_KEY);
      expect(services[name].environment.DATABASE_URL).toBe(`postgres://arbiter:${ENV.POSTGRES_PASSWORD}@timescaledb:5432/arbiter`);
    }
    // Grafana's TimescaleDB datasource reads the same password from its environment.
    const datasource = parse(readFileSync(resolve(ROOT, 'dashboards/provisioning/datasources/timescaledb.yaml'), 'utf8'));
    expect(datasource.datasources[0].secureJsonData.password).toBe('$POSTGRES_PASSWORD');
    expect(services.grafana.environment.POSTGRES_PASSWORD).toBe(ENV.POSTGRES_PASSWORD);
    expect(text).not.toMatch(/PASSWORD:\s*(admin|arbiter)\s*$/m);
  });

  it('builds one image, which every Arbiter service runs', () => {
    const built = Object.entries(services).filter(([, s]) => s.build);
    expect(built.map(([name]) => name)).toEqual(['gateway']);
    for (const name of ARBITER) {
      expect(services[name].image).toBe('arbiter:local');
      expect(services[name].command[1]).toBe(`dist/apps/${name}/src/main.js`);
      if (name !== 'gateway') expect(services[name].pull_policy).toBe('never');
    }
  });

  it('starts the services once PostgreSQL and NATS (with JetStream) are healthy', () => {
    expect(services.nats.healthcheck.test.join(' ')).toContain('/healthz?js-enabled-only=true');
    expect(services.nats.command).toEqual(expect.arrayContaining(['-js', '-m', '8222']));
    expect(services.timescaledb.healthcheck.test.join(' ')).toContain('pg_isready');
    for (const name of ARBITER) {
      expect(services[name].depends_on).toEqual({
        timescaledb: { condition: 'service_healthy' },
        nats: { condition: 'service_healthy' },
      });
    }
  });

  it('publishes only the gateway and the API on every interface', () => {
    const published = Object.entries(services).flatMap(([name, s]) =>
      ((s.ports ?? []) as string[]).map((p) => ({ name, p, everywhere: !String(p).startsWith('127.0.0.1:') })),
    );
    expect(published.filter((x) => x.everywhere).map((x) => `${x.name} ${x.p}`)).toEqual(['gateway 8080:8080', 'api 3000:3000']);
    for (const name of ['timescaledb', 'nats', 'grafana', 'prometheus']) expect(services[name].ports?.length ?? 0).toBeGreaterThan(0);
  });
});
