import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import vm from 'node:vm';
import { parse } from 'yaml';
import { eventually } from '@app/testing';
import { ADMIN_KEY, TestEngine, bootEngine } from './support/engine';

/**
 * The k6 scripts in load-tests/ cannot run here (no k6 binary), so they run in Node against fake k6
 * modules that record every request; the recorded requests are then sent to a booted engine, and
 * the scripts' own checks must pass on its real answers. Their options must be what k6 accepts.
 */
const DIR = resolve(__dirname, '../../load-tests');
const SCRIPTS = readdirSync(DIR).filter((f) => f.endsWith('.js'));

interface Request {
  method: string;
  url: string;
  body: string;
  headers: Record<string, string>;
}
interface Check {
  response: { status: number; json(path: string): unknown };
  conditions: Record<string, (r: unknown) => boolean>;
}

async function load(file: string, env: Record<string, string>) {
  const requests: Request[] = [];
  const checks: Check[] = [];
  const context = vm.createContext({ __ENV: env, JSON, Math, Number, Date, String });
  const fake = (exports: Record<string, unknown>) => {
    const m = new vm.SyntheticModule(
      Object.keys(exports),
      function () {
        for (const [k, v] of Object.entries(exports)) this.setExport(k, v);
      },
      { context },
    );
    return m;
  };
  let iteration = 0;
  const http = {
    post: (url: string, body: string, params: { headers: Record<string, string> }) => {
      requests.push({ method: 'POST', url, body, headers: params.headers });
      // Answered later, for real: a placeholder the checks are re-run against.
      return { placeholder: requests.length - 1 };
    },
  };
  const k6 = {
    'k6/http': fake({ default: http }),
    k6: fake({
      check: (response: Check['response'], conditions: Check['conditions']) => (checks.push({ response, conditions }), true),
      fail: (message: string) => {
        throw new Error(message);
      },
    }),
    'k6/execution': fake({
      default: {
        get scenario() {
          return { iterationInTest: iteration++ };
        },
      },
    }),
  };
  const modules = new Map<string, vm.Module>();
  const link = async (specifier: string, referencing: vm.Module): Promise<vm.Module> => {
    if (specifier in k6) return k6[specifier as keyof typeof k6];
    const path = resolve(dirname((referencing as vm.SourceTextModule).identifier), specifier);
    if (!modules.has(path)) modules.set(path, new vm.SourceTextModule(readFileSync(path, 'utf8'), { identifier: path, context }));
    return modules.get(path)!;
  };
  const main = new vm.SourceTextModule(readFileSync(join(DIR, file), 'utf8'), { identifier: join(DIR, file), context });
  await main.link(link);
  await main.evaluate();
  return { module: main.namespace as { options: any; setup(): unknown; default(data: unknown): void }, requests, checks };
}

describe('k6 load tests', () => {
  let t: TestEngine;
  beforeAll(async () => (t = await bootEngine()));
  afterAll(() => t.stop());

  it('has the three kinds a user needs', () => {
    expect(SCRIPTS.sort()).toEqual(['constant-arrival.js', 'soak.js', 'spike.js']);
  });

  it.each(SCRIPTS)('%s: valid k6 options with thresholds on the targets', async (file) => {
    const { module } = await load(file, {});
    const scenarios = Object.values(module.options.scenarios) as { executor: string; timeUnit: string }[];
    expect(scenarios.length).toBeGreaterThan(0);
    for (const s of scenarios) {
      expect(['constant-arrival-rate', 'ramping-arrival-rate']).toContain(s.executor);
      expect(s.timeUnit).toBe('1s');
    }
    expect(module.options.thresholds.http_req_failed).toEqual(['rate<0.001']);
    expect(module.options.thresholds['http_req_duration{name:ingest}'][0]).toMatch(/^p\(99\)<\d+$/);
  });

  it('constant-arrival offers 2,000 events/s by default, as DESIGN §10 states the latency target', async () => {
    const { module } = await load('constant-arrival.js', {});
    expect(module.options.scenarios.constant.rate * 20).toBe(2000);
    expect(module.options.thresholds['http_req_duration{name:ingest}']).toEqual(['p(99)<50']);
  });

  it.each(SCRIPTS)('%s: seeds its catalog and sends clicks the engine accepts, and its checks pass', async (file) => {
    const { module, requests, checks } = await load(file, { GATEWAY_URL: t.gateway, API_URL: t.api, ARBITER_ADMIN_KEY: ADMIN_KEY });
    const ids = module.setup() as { offerId: string };
    module.default(ids);
    module.default(ids);
    const answers: { status: number; body: Record<string, unknown> }[] = [];
    for (const r of requests) {
      const res = await fetch(r.url, { method: r.method, headers: r.headers, body: r.body });
      answers.push({ status: res.status, body: (await res.json()) as Record<string, unknown> });
    }
    expect(answers.slice(0, 3).map((a) => a.status)).toEqual([201, 201, 201]);
    expect(checks).toHaveLength(2);
    for (const [i, c] of checks.entries()) {
      const real = answers[3 + i];
      const response = { status: real.status, json: (path: string) => real.body[path] };
      for (const [name, condition] of Object.entries(c.conditions)) expect([name, condition(response)]).toEqual([name, true]);
    }
    // And they are scored and stored like any other clicks.
    await eventually(
      async () => (await t.db.query(`SELECT count(*)::int AS n FROM click_verdicts WHERE offer_id = $1`, [ids.offerId])).rows[0].n,
      (n) => n === 40,
    );
  });

  it('without an admin key a script says so instead of sending traffic', async () => {
    const { module, requests } = await load('spike.js', { GATEWAY_URL: t.gateway });
    expect(() => module.setup()).toThrow('set ARBITER_ADMIN_KEY');
    expect(requests).toHaveLength(0);
  });

  it("runs through the compose file's k6 service", () => {
    const compose = parse(readFileSync(resolve(__dirname, '../../docker-compose.yml'), 'utf8'), { merge: true });
    const k6 = compose.services.k6;
    expect(k6.image).toMatch(/^grafana\/k6:/);
    expect(k6.volumes).toContain('./load-tests:/load-tests:ro');
    expect(k6.environment.GATEWAY_URL).toBe(`http://gateway:${compose.services.gateway.ports[0].split(':')[1]}`);
    expect(k6.environment.API_URL).toBe(`http://api:${compose.services.api.ports[0].split(':')[1]}`);
  });
});
