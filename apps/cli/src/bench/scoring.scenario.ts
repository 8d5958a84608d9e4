import type { ClickEvent, ConversionEvent } from '@app/contracts';
import { ScoringEngine } from '@app/decisions';
import { FileCatalog, storedEvents } from '@app/evaluation';
import { ModelRuntime } from '@app/model';
import { DEFAULT_RULESET } from '@app/rules';
import { Simulator, catalogLine } from '@app/simulator';
import { median } from './percentiles';

export interface ScoringBenchResult {
  events: number;
  clicks: number;
  conversions: number;
  model: string | null;
  /** Features + rules + model + decision policy on one core, events already decoded: median of the rounds (wall clock). */
  eventsPerSecond: number;
  /** The same per second of this process's CPU time: steadier on a shared machine. */
  eventsPerCpuSecond: number;
  /** Rules only (no model), wall clock. */
  rulesOnlyEventsPerSecond: number;
  rounds: number[];
}

/**
 * The scorer's hot path without I/O: simulated traffic, validated and normalised up front (as the
 * scorer receives it), through a fresh ScoringEngine per round — streaming features, rules, the
 * default model and the decision policy, exactly the calls the live scorer makes per event.
 */
export function scoringScenario(options: { events: number; model: string | null; rounds?: number }): ScoringBenchResult {
  const sim = new Simulator({ seed: 11, events: options.events, hours: 48, start: new Date(Date.UTC(2026, 9, 1)), partitions: 1 });
  const catalog = new FileCatalog();
  catalog.load(catalogLine(sim.catalog));
  const events: (ClickEvent | ConversionEvent)[] = [...storedEvents(sim)];
  const runtime = options.model ? ModelRuntime.fromFile(options.model) : null;
  const round = (withModel: boolean): { wall: number; cpu: number } => {
    const engine = new ScoringEngine(DEFAULT_RULESET);
    if (withModel && runtime) engine.useModels(runtime);
    const cpu = process.cpuUsage();
    const started = performance.now();
    for (let i = 0; i < events.length; i++) {
      const e = events[i];
      // Decided "now", as the live scorer does.
      if (e.kind === 'click') engine.scoreClick(e, catalog, Date.now());
      else engine.scoreConversion(e, catalog, null, Date.now());
    }
    const wall = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    return { wall: events.length / wall, cpu: events.length / ((used.user + used.system) / 1e6) };
  };
  round(true); // warm-up: JIT and caches
  const rounds = Array.from({ length: options.rounds ?? 3 }, () => round(true));
  const rulesOnly = Array.from({ length: options.rounds ?? 3 }, () => round(false).wall);
  return {
    events: events.length,
    clicks: events.filter((e) => e.kind === 'click').length,
    conversions: events.filter((e) => e.kind === 'conversion').length,
    model: runtime?.version ?? null,
    eventsPerSecond: Math.round(median(rounds.map((r) => r.wall))),
    eventsPerCpuSecond: Math.round(median(rounds.map((r) => r.cpu))),
    rulesOnlyEventsPerSecond: Math.round(median(rulesOnly)),
    rounds: rounds.map((r) => Math.round(r.wall)),
  };
}
