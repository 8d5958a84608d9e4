import type { ClickEvent, ConversionEvent, Decision } from '@app/contracts';
import { ScoringEngine } from '@app/decisions';
import { ModelRuntime } from '@app/model';
import { DEFAULT_RULESET } from '@app/rules';
import { Simulator, catalogLine } from '@app/simulator';
import { FileCatalog } from './file-catalog';
import { storedEvents } from './stored-events';

/**
 * The engine keeps its decisions on hold packed (issue 19: as objects they were 52 MiB of the
 * memory bench's heap) and hands out a decoded copy: the decision as it was published.
 */
describe('a decision on hold', () => {
  const sim = new Simulator({ seed: 29, events: 8_000, hours: 6, start: new Date('2026-11-01T00:00:00Z'), partitions: 1 });
  const catalog = new FileCatalog();
  catalog.load(catalogLine(sim.catalog));
  const events: (ClickEvent | ConversionEvent)[] = [...storedEvents(sim)];

  it('reads back as it was published, field for field, and a copy changed by its reader changes nothing', () => {
    // Remembering one outcome: what `currentDecision` answers comes from the holds.
    const engine = new ScoringEngine(DEFAULT_RULESET, { rememberOutcomes: 1 });
    engine.useModels(ModelRuntime.fromFile('models/default/model.json'));
    const held: Decision[] = [];
    for (const e of events) {
      const t = Date.parse(e.receivedAt);
      if (e.kind === 'click') engine.scoreClick(e, catalog, t);
      else {
        const d = engine.scoreConversion(e, catalog, null, t);
        if (d.status === 'hold') held.push(d);
      }
    }
    expect(held.length).toBeGreaterThan(20);
    expect(held.some((d) => d.reasons.length > 0)).toBe(true);
    for (const d of held) {
      const copy = engine.currentDecision(d.conversionId)!;
      expect(copy).toStrictEqual(JSON.parse(JSON.stringify(d)));
      copy.status = 'approved';
      copy.reasons.length = 0;
      expect(engine.currentDecision(d.conversionId)).toStrictEqual(JSON.parse(JSON.stringify(d)));
    }
    const resolved = engine.expireHolds(Date.parse(events[events.length - 1].receivedAt) + 91 * 86_400_000);
    expect(resolved.map((d) => d.conversionId).sort()).toEqual(held.map((d) => d.conversionId).sort());
    expect(
      resolved.every(
        (d) => d.previousStatus === 'hold' && d.revision === 1 + held.find((h) => h.conversionId === d.conversionId)!.revision,
      ),
    ).toBe(true);
  });
});
