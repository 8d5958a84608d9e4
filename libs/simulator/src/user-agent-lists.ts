import crawlers from 'crawler-user-agents';
import UserAgent from 'user-agents';
import { clickPartition } from '@app/contracts';
import { COUNTRIES, worldCountry } from './catalog';
import { IpPools } from './ip-pools';
import { Random } from './random';
import { SimClick } from './sim-events';

/** Every example user agent of the `crawler-user-agents` list: declared crawlers, bots and spiders. */
export function publicCrawlerUserAgents(): string[] {
  return [...new Set(crawlers.flatMap((c) => c.instances ?? []))];
}

/** Every distinct browser user agent of the `user-agents` package's traffic data. */
export function publicBrowserUserAgents(): string[] {
  return [...new Set(UserAgent.top(1_000_000).map((d) => d.userAgent))];
}

/**
 * One click per user agent of two public lists — declared crawlers (fraud, `declared_bot`) and
 * real browsers (legitimate, `human`) — in shuffled order over an hour, each from its own
 * residential address, without a referrer, spread over `publishers` publishers with no history.
 * Measures the bot signals and the model on user agents the simulator never uses.
 */
export function* userAgentListTraffic(options: {
  seed: number;
  start: Date;
  partitions: number;
  publishers?: number;
}): Generator<SimClick> {
  const rng = new Random(options.seed);
  const pools = new IpPools(rng, COUNTRIES, 100);
  const agents = [
    ...publicCrawlerUserAgents().map((ua) => ({ ua, fraud: true })),
    ...publicBrowserUserAgents().map((ua) => ({ ua, fraud: false })),
  ];
  for (let i = agents.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [agents[i], agents[j]] = [agents[j], agents[i]];
  }
  const publishers = options.publishers ?? 40;
  const step = 3_600_000 / agents.length;
  for (const [i, { ua, fraud }] of agents.entries()) {
    const t = options.start.getTime() + Math.floor(i * step);
    const ip = pools.fresh(rng, worldCountry(rng));
    const partition = clickPartition(ip, options.partitions);
    yield {
      kind: 'click',
      id: `c${partition}.${rng.uuidv7(t)}`,
      ts: new Date(t).toISOString(),
      offerId: 'off-ua-01',
      publisherId: `pub-ua-${String(1 + rng.int(0, publishers - 1)).padStart(2, '0')}`,
      ip,
      userAgent: ua,
      label: fraud ? 'fraud' : 'legit',
      pattern: fraud ? 'declared_bot' : 'human',
    };
  }
}
