import { spawn } from 'node:child_process';
import type { ClickEvent, ConversionEvent } from '@app/contracts';
import { ScoringEngine } from '@app/decisions';
import { FileCatalog } from '@app/evaluation';
import { EventNormalizer } from '@app/ingest';
import { ModelRuntime } from '@app/model';
import { DEFAULT_RULESET } from '@app/rules';
import { Simulator, catalogLine } from '@app/simulator';

export interface MemoryBenchResult {
  /** Clicks held in the attribution state at the end (the target's "1,000,000 clicks"). */
  clicksInState: number;
  distinctIps: number;
  /** After a full GC: V8 heap used, typed arrays, and the process's resident set, in MiB. */
  heapUsedMiB: number;
  /** The V8 heap the process holds (used or not). */
  heapTotalMiB: number;
  arrayBuffersMiB: number;
  rssMiB: number;
  /** The same before any event, to show what the state itself takes. */
  baselineRssMiB: number;
  bytesPerClick: number;
  seconds: number;
}

const MiB = 1024 * 1024;

/**
 * Scorer memory with `clicks` clicks in attribution state, measured in a fresh process (its own
 * heap, `--expose-gc`) so that nothing else in this one is counted.
 */
export function memoryScenario(options: { clicks: number; model: string | null }): Promise<MemoryBenchResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', '--max-old-space-size=4096', __filename, JSON.stringify(options)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`memory probe exited with ${code}`));
      try {
        resolve(JSON.parse(out) as MemoryBenchResult);
      } catch (e) {
        reject(e as Error);
      }
    });
  });
}

/** The probe: streams simulated traffic through one engine, events not kept, then measures. */
function probe(options: { clicks: number; model: string | null }): MemoryBenchResult {
  const gc = (globalThis as { gc?: () => void }).gc!;
  gc();
  const baselineRss = process.memoryUsage().rss;
  const started = performance.now();
  // Clicks over one day: all inside the 30-day attribution window, so all of them stay.
  const sim = new Simulator({
    seed: 21,
    events: Math.ceil(options.clicks * 1.06),
    hours: 24,
    start: new Date(Date.UTC(2026, 9, 1)),
    partitions: 1,
  });
  const catalog = new FileCatalog();
  catalog.load(catalogLine(sim.catalog));
  const normalizer = new EventNormalizer({ partitions: 1, maxFutureSkewMs: 0 });
  const engine = new ScoringEngine(DEFAULT_RULESET, { features: { maxClicks: Math.max(1_000_000, options.clicks) } });
  if (options.model) engine.useModels(ModelRuntime.fromFile(options.model));
  let clicks = 0;
  for (const e of sim.events()) {
    if (clicks >= options.clicks) break;
    if (e.kind === 'feedback') continue;
    const { kind, label: _label, pattern: _pattern, ...raw } = e as typeof e & { label?: unknown; pattern?: unknown };
    // Through JSON, as the scorer receives events: every string is a fresh copy, as in production.
    const n = normalizer.normalize(kind, JSON.parse(JSON.stringify(raw)), new Date(e.ts));
    if (!n.ok) continue;
    const event = n.event as ClickEvent | ConversionEvent;
    if (event.kind === 'click') {
      engine.scoreClick(event, catalog, Date.now());
      clicks++;
    } else engine.scoreConversion(event, catalog, null, Date.now());
  }
  gc();
  gc();
  const m = process.memoryUsage();
  const stats = engine.state.stats();
  return {
    clicksInState: stats.clicks,
    distinctIps: stats.ipKeys,
    heapUsedMiB: Math.round(m.heapUsed / MiB),
    heapTotalMiB: Math.round(m.heapTotal / MiB),
    arrayBuffersMiB: Math.round(m.arrayBuffers / MiB),
    rssMiB: Math.round(m.rss / MiB),
    baselineRssMiB: Math.round(baselineRss / MiB),
    bytesPerClick: Math.round((m.rss - baselineRss) / Math.max(1, stats.clicks)),
    seconds: Math.round((performance.now() - started) / 100) / 10,
  };
}

if (require.main === module) {
  process.stdout.write(JSON.stringify(probe(JSON.parse(process.argv[2]) as { clicks: number; model: string | null })));
}
