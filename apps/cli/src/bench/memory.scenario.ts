import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';
import type { ClickEvent, ConversionEvent } from '@app/contracts';
import { ScoringEngine } from '@app/decisions';
import { FileCatalog, storedEvents } from '@app/evaluation';
import { DEFAULT_FEATURE_OPTIONS, causalTables, hashPart, keyHash } from '@app/features';
import { ModelRuntime } from '@app/model';
import { DEFAULT_RULESET } from '@app/rules';
import { Simulator, catalogLine } from '@app/simulator';
import { ENGINE_NODE_FLAGS } from '../engine-flags';

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
 * Scorer memory with `clicks` clicks in attribution state, measured in a fresh process started as
 * the engine's processes are (`ENGINE_NODE_FLAGS`, plus `--expose-gc`) that holds only what the
 * scorer holds: this process simulates and normalises the traffic (the simulator's own state and the
 * gateway's geo database are not the scorer's) and sends it as JSON lines, as the scorer receives
 * events; the catalog goes first.
 */
export async function memoryScenario(options: { clicks: number; model: string | null }): Promise<MemoryBenchResult> {
  const child = spawn(
    process.execPath,
    [...ENGINE_NODE_FLAGS, '--expose-gc', '--max-old-space-size=4096', __filename, JSON.stringify(options)],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', resolve);
  });
  child.stdin.on('error', () => undefined); // a probe that died is reported by its exit code
  try {
    await sendTraffic(child.stdin, options.clicks);
  } catch (e) {
    // The probe stopped reading: its exit code says why.
    if ((e as NodeJS.ErrnoException).code !== 'EPIPE') throw e;
  } finally {
    child.stdin.end();
  }
  const code = await exited;
  if (code !== 0) throw new Error(`memory probe exited with ${code}`);
  return JSON.parse(out) as MemoryBenchResult;
}

/** Simulated traffic, normalised as the gateway stores it, one JSON event a line, until `clicks` clicks. */
async function sendTraffic(to: Writable, clicks: number): Promise<void> {
  // Clicks over one day: all inside the 30-day attribution window, so all of them stay.
  const sim = new Simulator({
    seed: 21,
    events: Math.ceil(clicks * 1.06),
    hours: 24,
    start: new Date(Date.UTC(2026, 9, 1)),
    partitions: 1,
  });
  let chunk = `${JSON.stringify(catalogLine(sim.catalog))}\n`;
  let sent = 0;
  for (const event of storedEvents(sim)) {
    if (sent >= clicks) break;
    if (event.kind === 'click') sent++;
    chunk += `${JSON.stringify(event)}\n`;
    if (chunk.length > 1 << 20) {
      if (!to.write(chunk)) await once(to, 'drain');
      chunk = '';
    }
  }
  to.write(chunk);
}

/** The probe: scores the events it reads (not kept beyond what the engine keeps), then measures. */
async function probe(options: { clicks: number; model: string | null }): Promise<MemoryBenchResult> {
  const gc = (globalThis as { gc?: () => void }).gc!;
  const catalog = new FileCatalog();
  const engine = new ScoringEngine(DEFAULT_RULESET, { features: { maxClicks: Math.max(1_000_000, options.clicks) } });
  if (options.model) engine.useModels(ModelRuntime.fromFile(options.model));
  gc();
  const baselineRss = process.memoryUsage().rss;
  const started = performance.now();
  let first = true;
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    if (first) {
      catalog.load(JSON.parse(line));
      first = false;
      continue;
    }
    // Parsed from JSON, as the scorer receives events: every string is a fresh copy, as in production.
    const event = JSON.parse(line) as ClickEvent | ConversionEvent;
    if (event.kind === 'click') engine.scoreClick(event, catalog, Date.now());
    else engine.scoreConversion(event, catalog, null, Date.now());
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
  void probe(JSON.parse(process.argv[2]) as { clicks: number; model: string | null }).then((result) =>
    process.stdout.write(JSON.stringify(result)),
  );
}
