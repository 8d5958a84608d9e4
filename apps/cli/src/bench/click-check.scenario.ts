import type { ClickEvent } from '@app/contracts';
import { clickTimeOutcome } from '@app/decisions';
import { FileCatalog } from '@app/evaluation';
import { EventNormalizer } from '@app/ingest';
import { EnforcementBlock, combineLayers } from '@app/rules';
import { Simulator, catalogLine } from '@app/simulator';
import { Percentiles, percentiles } from './percentiles';

export interface ClickCheckBenchResult {
  clicks: number;
  /** Share of them the checks sent to the fallback. */
  blockedShare: number;
  /** Time the click-time checks add to one tracking-link request (ms), over every click of the last round. */
  latency: Percentiles;
  checksPerSecond: number;
}

/**
 * What the tracking link adds before it redirects (DESIGN §10, §12): the click-time checks of a
 * `fallback` rule set on simulated clicks (browsers, bots, scripts, data centres; distinct
 * addresses, so the address and user-agent caches are exercised as in live traffic), one call per
 * click timed on its own. The first round warms the JIT; the figures are the second round's.
 */
export function clickCheckScenario(options: { clicks: number }): ClickCheckBenchResult {
  const sim = new Simulator({
    seed: 17,
    events: Math.ceil(options.clicks * 1.05),
    hours: 24,
    start: new Date(Date.UTC(2026, 9, 1)),
    partitions: 1,
  });
  const catalog = new FileCatalog();
  catalog.load(catalogLine(sim.catalog));
  const normalizer = new EventNormalizer({ partitions: 1, maxFutureSkewMs: 0 });
  const clicks: ClickEvent[] = [];
  for (const e of sim.events()) {
    if (e.kind !== 'click' || clicks.length >= options.clicks) continue;
    const { kind, label: _label, pattern: _pattern, ...raw } = e as typeof e & { label?: unknown; pattern?: unknown };
    const n = normalizer.normalize(kind, raw, new Date(e.ts));
    if (n.ok && n.event.kind === 'click') clicks.push(n.event);
  }
  // Enforcement blocks in force, as a busy network would have them: two of the simulated publishers
  // network-wide and a thousand sub-ids, so the ENFORCEMENT_BLOCK lookup runs on every click.
  const block = (i: number, publisherId: string, subId?: string): EnforcementBlock => ({
    id: `blk-${i.toString(16).padStart(8, '0')}`,
    publisherId,
    ...(subId ? { subId } : {}),
    policy: 'network/bench',
    evidence: {
      metric: 'invalidRate',
      rate: 0.5,
      sample: 200,
      maxRate: 0.3,
      minSample: 100,
      windowHours: 6,
      from: '2026-09-30T00:00:00.000Z',
      to: '2026-10-01T00:00:00.000Z',
    },
    createdAt: '2026-10-01T00:00:00.000Z',
    until: '2026-10-03T00:00:00.000Z',
  });
  const publishers = sim.catalog.publishers.map((p) => p.id);
  const blocks = [
    ...publishers.slice(0, 2).map((id, i) => block(i, id)),
    ...Array.from({ length: 1000 }, (_, i) => block(100 + i, publishers[i % publishers.length], `bench-sub-${i}`)),
  ];
  const ruleset = combineLayers('bench', [{ clickBlocking: { mode: 'fallback', fallbackUrl: 'https://network.example/blocked' } }], blocks);
  const took = new Float64Array(clicks.length);
  let blocked = 0;
  let wall = 0;
  for (let round = 0; round < 2; round++) {
    blocked = 0;
    const started = performance.now();
    for (let i = 0; i < clicks.length; i++) {
      const e = clicks[i];
      const t0 = performance.now();
      // What the gateway does per request: the catalog lookups and the checks.
      const outcome = clickTimeOutcome(ruleset, {
        event: e,
        offer: catalog.offer(e.offerId) ?? null,
        publisher: catalog.publisher(e.publisherId) ?? null,
      });
      took[i] = performance.now() - t0;
      if (outcome.blocked) blocked++;
    }
    wall = (performance.now() - started) / 1000;
  }
  return {
    clicks: clicks.length,
    blockedShare: clicks.length ? Math.round((blocked / clicks.length) * 10_000) / 10_000 : 0,
    latency: percentiles(took),
    checksPerSecond: Math.round(clicks.length / wall),
  };
}
