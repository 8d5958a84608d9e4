import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ClickEvent, ConversionEvent } from '@app/contracts';
import { ScoringEngine } from '@app/decisions';
import { FileCatalog, storedEvents } from '@app/evaluation';
import { ModelRuntime } from '@app/model';
import { DEFAULT_RULESET } from '@app/rules';
import { Simulator, catalogLine } from '@app/simulator';
import { ENGINE_NODE_FLAGS } from '../engine-flags';
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
  /** The V8 flags of the process the rounds ran in (`process.execArgv`). */
  nodeFlags: string[];
}

export interface ScoringOptions {
  events: number;
  model: string | null;
  rounds?: number;
}

/**
 * The scorer's hot path without I/O: simulated traffic, validated and normalised up front (as the
 * scorer receives it), through a fresh ScoringEngine per round — streaming features, rules, the
 * default model and the decision policy, exactly the calls the live scorer makes per event.
 */
export function scoringScenario(options: ScoringOptions): ScoringBenchResult {
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
    nodeFlags: [...process.execArgv],
  };
}

/**
 * The same rounds in a fresh process started as the scorer is (`ENGINE_NODE_FLAGS`: its 32 MiB
 * semi-spaces), whatever flags the bench itself was started with: `node dist/apps/cli/src/main.js
 * bench` runs with V8's defaults (16 MiB semi-spaces on Node 20), `arbiter bench` with the shebang's.
 * The bench process waits idle meanwhile. Run from the TypeScript sources (jest), the probe is this
 * file's build in `dist/` (CI builds before it tests); null when there is none.
 */
export async function scoringAsScorer(options: ScoringOptions): Promise<ScoringBenchResult | null> {
  const script = __filename.endsWith('.ts') ? resolve(__dirname, '../../../../dist/apps/cli/src/bench/scoring.scenario.js') : __filename;
  if (!existsSync(script)) return null;
  const child = spawn(process.execPath, [...ENGINE_NODE_FLAGS, script, JSON.stringify(options)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', resolve);
  });
  if (code !== 0) throw new Error(`scoring probe exited with ${code}`);
  return JSON.parse(out) as ScoringBenchResult;
}

if (require.main === module) {
  process.stdout.write(JSON.stringify(scoringScenario(JSON.parse(process.argv[2]) as ScoringOptions)));
}
