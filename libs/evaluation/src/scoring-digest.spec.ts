import { createHash } from 'node:crypto';
import { ScoringEngine } from '@app/decisions';
import { ModelRuntime } from '@app/model';
import { DEFAULT_RULESET } from '@app/rules';
import { Simulator, catalogLine } from '@app/simulator';
import { OfflineRunner } from './offline-runner';

/**
 * Every verdict, decision and revision of a simulated run, hashed: a change to how the scoring
 * state is stored (tables, columns, pools) must leave the outputs bit-identical. The state's caps
 * are set low so that its eviction paths run too. A change that means to alter scoring (a rule, a
 * feature, the default model, the simulator) updates the digest and says why in its commit
 * (2026-12-03: feedback revisions name their feedback, `feedbackId`; nothing else changed).
 */
const EXPECTED = {
  verdicts: 28_200,
  decisions: 1_197,
  revisions: 151,
  digest: '1a037fdd149baf4642a74f58b414c5089cc779519002e6797190940881378bf7',
};

async function* linesOf(items: unknown[]) {
  let line = 0;
  for (const value of items) yield { line: ++line, value };
}

describe('scoring outputs (digest)', () => {
  it('are the same, field for field, as before the state was last restructured', async () => {
    const sim = new Simulator({ seed: 19, events: 30_000, hours: 48, start: new Date('2026-11-01T00:00:00Z'), partitions: 1 });
    const events = [...sim.events()];
    const engine = new ScoringEngine(DEFAULT_RULESET, {
      features: { maxClicks: 4_000, maxKeys: 3_000, maxHistoryKeys: 1_500, maxOfferKeys: 500 },
      rememberOutcomes: 2_000,
    });
    engine.useModels(ModelRuntime.fromFile('models/default/model.json'), null);
    const hash = createHash('sha256');
    // Decision times are the event times (the runner's clock); latencyMs then only reflects them.
    const add = (kind: string, o: unknown) => hash.update(kind).update(JSON.stringify(o));
    const counts = { verdicts: 0, decisions: 0, revisions: 0 };
    await new OfflineRunner(engine).run(linesOf([catalogLine(sim.catalog), ...events]), {
      verdict: (v) => (counts.verdicts++, add('v', v)),
      decision: (d) => (counts.decisions++, add('d', d)),
      revision: (d) => (counts.revisions++, add('r', d)),
    });
    expect({ ...counts, digest: hash.digest('hex') }).toEqual(EXPECTED);
  });
});
