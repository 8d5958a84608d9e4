import { spawn } from 'node:child_process';
import type { ClickEvent, ConversionEvent } from '@app/contracts';
import { ScoringEngine } from '@app/decisions';
import { FileCatalog } from '@app/evaluation';
import { DEFAULT_FEATURE_OPTIONS, causalTables, hashPart, keyHash } from '@app/features';
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
  /** Keys the causal-feature tables held at the end of the run (included in the figures above). */
  causalKeys: { ips: number; devices: number; offerKeys: number };
  /**
   * What the causal-feature tables (issue 15: per-IP and per-device history, offer × source day
   * rates) cost at most: built as the scorer builds them, filled to their caps with fresh keys,
   * measured in this process (RSS growth, and the V8 heap plus typed arrays growth).
   */
  causalAtCap: { historyKeysCap: number; offerKeysCap: number; rssMiB: number; heapAndArraysMiB: number };
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
  const causalAtCap = measureCausalAtCap(gc);
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
    causalKeys: { ips: stats.historyKeys.ips, devices: stats.historyKeys.devices, offerKeys: stats.offerKeys.keys },
    causalAtCap,
  };
}

/** Builds the causal-feature tables with the scorer's default caps, fills every one to its cap, measures the growth. */
function measureCausalAtCap(gc: () => void): MemoryBenchResult['causalAtCap'] {
  const { maxHistoryKeys, maxOfferKeys } = DEFAULT_FEATURE_OPTIONS;
  gc();
  const before = process.memoryUsage();
  const tables = causalTables(DEFAULT_FEATURE_OPTIONS);
  const t0 = Date.UTC(2026, 9, 1);
  for (let i = 0; i < maxHistoryKeys; i++) {
    // Keys as fresh strings, as the scorer's come from parsed JSON.
    const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    const device = `device-${i.toString(36).padStart(8, '0')}-${(i * 7919).toString(16)}`;
    for (const [table, key] of [
      [tables.ipHistory, ip],
      [tables.deviceHistory, device],
    ] as const) {
      const slot = table.slot(keyHash(hashPart(key)), key, t0 + i);
      table.touch(slot, t0 + i);
      for (let s = 0; s < 3; s++) table.addDistinct(slot, s, keyHash(hashPart(key), s));
    }
  }
  for (let i = 0; i < maxOfferKeys; i++) {
    const offer = `offer-${i % 500}`;
    const publisher = `pub-${(i / 500) | 0}`;
    const subId = `sub-${i.toString(36)}`;
    const slot = tables.offers.slot(
      keyHash(keyHash(hashPart(offer), hashPart(publisher)), hashPart(subId)),
      offer,
      publisher,
      t0 + i,
      subId,
    );
    tables.offers.add(slot, 0, t0 + i);
    tables.offers.add(slot, 1, t0 + i);
  }
  gc();
  gc();
  const after = process.memoryUsage();
  const held = tables.ipHistory.size + tables.deviceHistory.size + tables.offers.size;
  if (held !== 2 * maxHistoryKeys + maxOfferKeys) throw new Error(`causal tables held ${held} keys, not their caps`);
  return {
    historyKeysCap: maxHistoryKeys,
    offerKeysCap: maxOfferKeys,
    rssMiB: Math.round((after.rss - before.rss) / MiB),
    heapAndArraysMiB: Math.round((after.heapUsed + after.arrayBuffers - before.heapUsed - before.arrayBuffers) / MiB),
  };
}

if (require.main === module) {
  process.stdout.write(JSON.stringify(probe(JSON.parse(process.argv[2]) as { clicks: number; model: string | null })));
}
