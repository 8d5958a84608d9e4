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
async function digestOf(m: Modules): Promise<string> {
  const sim = new m.simulator.Simulator({ seed: 23, events: 12_000, hours: 36, start: new Date('2026-11-01T00:00:00Z'), partitions: 1 });
  const engine = new m.decisions.ScoringEngine(m.rules.DEFAULT_RULESET, {
    // Low caps: eviction and sweeping run too.
    features: { maxClicks: 2_000, maxKeys: 1_500, maxHistoryKeys: 800, maxOfferKeys: 300 },
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
    // …and the sketches' value hashes do not depend on it.
    expect(ids.map(a.features.valueHash)).toEqual(ids.map(b.features.valueHash));
    expect(await digestOf(a)).toBe(await digestOf(b));
  });
});
