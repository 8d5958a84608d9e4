import type { ClickEvent, ConversionEvent, Outcome } from '@app/contracts';
import { ScoringEngine } from '@app/decisions';
import { ModelRuntime } from '@app/model';
import { DEFAULT_RULESET } from '@app/rules';
import { Simulator, catalogLine } from '@app/simulator';
import { FileCatalog } from './file-catalog';
import { storedEvents } from './stored-events';

/**
 * The scorer fills one reused observation per click (feature-state `observeClick(e, true)`), and
 * its outcomes of a batch are published together after the whole batch is scored. An outcome that
 * kept a reference into that observation (a rule putting `obs.*` objects into its evidence) would be
 * rewritten by the next click: every verdict of a batch would carry the last click's counts. Each
 * outcome must be, when the batch is published, exactly what it was when it was made.
 */
describe('outcomes of a batch', () => {
  const sim = new Simulator({ seed: 31, events: 20_000, hours: 1, start: new Date('2026-11-01T00:00:00Z'), partitions: 1 });
  const catalog = new FileCatalog();
  catalog.load(catalogLine(sim.catalog));
  const events: (ClickEvent | ConversionEvent)[] = [...storedEvents(sim)];

  it('keep the evidence they were made with after later clicks are scored', () => {
    const engine = new ScoringEngine(DEFAULT_RULESET);
    engine.useModels(ModelRuntime.fromFile('models/default/model.json'));
    const made: { outcome: Outcome; asMade: string }[] = [];
    for (const e of events) {
      const t = Date.parse(e.receivedAt);
      const outcome = e.kind === 'click' ? engine.scoreClick(e, catalog, t) : engine.scoreConversion(e, catalog, null, t);
      made.push({ outcome, asMade: JSON.stringify(outcome) });
    }
    // The traffic exercises the rules whose evidence comes from the observation's counts.
    const fired = new Set(made.flatMap(({ outcome }) => outcome.reasons.map((r) => r.code)));
    for (const code of ['IP_VELOCITY', 'DEVICE_VELOCITY', 'CONVERSION_VELOCITY', 'MODEL_RISK', 'DUPLICATE_CLICK'])
      expect(fired).toContain(code);
    const changed = made.filter(({ outcome, asMade }) => JSON.stringify(outcome) !== asMade);
    // The first one as it was made and as it is now, rather than every changed outcome.
    const first = changed[0] ? { asMade: JSON.parse(changed[0].asMade), now: changed[0].outcome } : null;
    expect({ changed: changed.length, first }).toEqual({ changed: 0, first: null });
  });
});
