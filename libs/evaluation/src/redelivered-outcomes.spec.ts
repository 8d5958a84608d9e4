import type { ClickEvent, ClickVerdict, ConversionEvent, Decision, Outcome } from '@app/contracts';
import { ScoringEngine } from '@app/decisions';
import { ModelRuntime } from '@app/model';
import { DEFAULT_RULESET } from '@app/rules';
import { Simulator, catalogLine } from '@app/simulator';
import { FileCatalog } from './file-catalog';
import { storedEvents } from './stored-events';

/**
 * The engine remembers the outcomes it gave (encoded, off the V8 heap) to answer a redelivered
 * event: the answer must be the outcome it gave the first time, field for field, with MODEL_RISK's
 * table of contributions and a decision's reasons, and scoring it again must change nothing.
 */
describe('a redelivered event', () => {
  const remember = 3_000;
  const sim = new Simulator({ seed: 23, events: 6_000, hours: 6, start: new Date('2026-11-01T00:00:00Z'), partitions: 1 });
  const catalog = new FileCatalog();
  catalog.load(catalogLine(sim.catalog));
  const events: (ClickEvent | ConversionEvent)[] = [...storedEvents(sim)];

  function run() {
    const engine = new ScoringEngine(DEFAULT_RULESET, { rememberOutcomes: remember });
    engine.useModels(ModelRuntime.fromFile('models/default/model.json'));
    const given = new Map<string, Outcome>();
    for (const e of events) {
      const t = Date.parse(e.receivedAt);
      given.set(e.id, e.kind === 'click' ? engine.scoreClick(e, catalog, t) : engine.scoreConversion(e, catalog, null, t));
    }
    return { engine, given };
  }

  /** Events of the last `remember` of their kind, whose outcomes the engine still holds. */
  function recent(kind: 'click' | 'conversion') {
    return events.filter((e) => e.kind === kind).slice(-remember);
  }

  it('gets the verdict it got the first time, MODEL_RISK with its contributions included', () => {
    const { engine, given } = run();
    const clicks = recent('click');
    const explained = clicks.filter((e) =>
      (given.get(e.id) as ClickVerdict).reasons.some((r) => r.code === 'MODEL_RISK' && Array.isArray(r.evidence.contributions)),
    );
    expect(explained.length).toBeGreaterThan(0);
    const stateBefore = engine.state.stats();
    for (const e of clicks) {
      const again = engine.scoreClick(e as ClickEvent, catalog, Date.parse(e.receivedAt) + 60_000);
      expect(again).toEqual(given.get(e.id));
    }
    expect(engine.state.stats()).toEqual(stateBefore);
  });

  it('gets the decision it got the first time, with its reasons', () => {
    const { engine, given } = run();
    const conversions = recent('conversion');
    expect(conversions.some((e) => (given.get(e.id) as Decision).reasons.length > 0)).toBe(true);
    for (const e of conversions) {
      const again = engine.scoreConversion(e as ConversionEvent, catalog, null, Date.parse(e.receivedAt) + 60_000);
      expect(again).toEqual(given.get(e.id));
    }
  });

  it('is no longer remembered past the bound configured, while its click is still known as observed', () => {
    const { engine, given } = run();
    const forgotten = events.filter((e) => e.kind === 'click').at(-remember - 1)!;
    expect(engine.previousOutcome('click', forgotten.id)).toBeUndefined();
    expect(engine.remembers('click', forgotten.id)).toBe(false);
    // What tells the scorer not to score it again but to answer it by the recorded verdict (apps/scorer redelivery.spec.ts).
    expect(engine.holdsClick(forgotten.id)).toBe(true);
    const kept = events.filter((e) => e.kind === 'click').at(-remember)!;
    expect(engine.previousOutcome('click', kept.id)).toEqual(given.get(kept.id));
    expect(engine.remembers('click', kept.id)).toBe(true);
  });

  it('is forgotten, every one, when the engine is told to (after a restart’s rebuild)', () => {
    const { engine } = run();
    const last = events.at(-1)!;
    engine.forgetOutcomes();
    expect(engine.remembers(last.kind, last.id)).toBe(false);
    expect(engine.previousOutcome(last.kind, last.id)).toBeUndefined();
  });
});
