import { createHash } from 'node:crypto';

type Modules = {
  decisions: typeof import('@app/decisions');
  features: typeof import('@app/features');
  model: typeof import('@app/model');
  rules: typeof import('@app/rules');
  simulator: typeof import('@app/simulator');
  runner: typeof import('./offline-runner');
};

/** The scoring code loaded afresh: a new copy of every module, so a new table-hash secret. */
function loadAfresh(): Modules {
  let modules: Modules | undefined;
  jest.isolateModules(() => {
    modules = {
      decisions: require('@app/decisions'),
      features: require('@app/features'),
      model: require('@app/model'),
      rules: require('@app/rules'),
      simulator: require('@app/simulator'),
      runner: require('./offline-runner'),
    };
  });
  return modules!;
}

async function* linesOf(items: unknown[]) {
  let line = 0;
  for (const value of items) yield { line: ++line, value };
}

/** Every verdict, decision and revision of a simulated run, hashed (as scoring-digest.spec does). */
async function digestOf(m: Modules, distinctSecret = m.features.OFFLINE_DISTINCT_SECRET): Promise<string> {
  const sim = new m.simulator.Simulator({ seed: 23, events: 12_000, hours: 36, start: new Date('2026-11-01T00:00:00Z'), partitions: 1 });
  const engine = new m.decisions.ScoringEngine(m.rules.DEFAULT_RULESET, {
    // Low caps: eviction and sweeping run too.
    features: { maxClicks: 2_000, maxKeys: 1_500, maxHistoryKeys: 800, maxOfferKeys: 300, distinctSecret },
    rememberOutcomes: 1_000,
  });
  engine.useModels(m.model.ModelRuntime.fromFile('models/default/model.json'), null);
  const hash = createHash('sha256');
  const add = (kind: string, o: unknown) => hash.update(kind).update(JSON.stringify(o));
  await new m.runner.OfflineRunner(engine).run(linesOf([m.simulator.catalogLine(sim.catalog), ...sim.events()]), {
    verdict: (v) => add('v', v),
    decision: (d) => add('d', d),
    revision: (d) => add('r', d),
  });
  return hash.digest('hex');
}

describe('the table-hash secret', () => {
  it('differs from process to process and changes no scoring output', async () => {
    const a = loadAfresh();
    const b = loadAfresh();
    const ids = ['203.0.113.7', 'pub-1', 'Mozilla/5.0 (iPhone)', ''];
    // Two secrets: the same ids hash differently (a collision of all four is a 2^-128 chance)…
    expect(ids.map(a.features.hashPart)).not.toEqual(ids.map(b.features.hashPart));
    // …and the sketches' value hashes do not depend on it, only on the deployment's secret.
    const key = a.features.distinctKey(a.features.OFFLINE_DISTINCT_SECRET);
    expect(ids.map((id) => a.features.valueHash(key, id))).toEqual(ids.map((id) => b.features.valueHash(key, id)));
    expect(await digestOf(a)).toBe(await digestOf(b));
  });
});

describe("the deployment's distinct-count secret", () => {
  it('is an input of the scoring outputs: the same secret, the same outputs in any process; another, other counts', async () => {
    const a = loadAfresh();
    const b = loadAfresh();
    const deployment = '0123456789abcdef';
    expect(await digestOf(a, deployment)).toBe(await digestOf(b, deployment));
    // The distinct counts past four are estimates over the keyed hash: another key, other estimates
    // (which is why a backtest must count with its deployment's secret to reproduce its decisions).
    expect(await digestOf(b, deployment)).not.toBe(await digestOf(a));
  });

  it('is 16 hex digits', () => {
    const { features } = loadAfresh();
    expect(() => new features.FeatureState({ ...features.DEFAULT_FEATURE_OPTIONS, distinctSecret: 'secret' })).toThrow(
      /16 lower-case hex digits/,
    );
  });
});
