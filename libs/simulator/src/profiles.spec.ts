import { SimClick, SimConversion } from './sim-events';
import { Simulator } from './simulator';
import { TrafficProfile } from './profiles';
import { publicBrowserUserAgents, publicCrawlerUserAgents, userAgentListTraffic } from './user-agent-lists';

const HOUR = 3600_000;
const start = new Date('2026-11-01T00:00:00Z');

function traffic(profile: TrafficProfile, events = 20_000, hours = 48) {
  const sim = new Simulator({ seed: 3, events, hours, start, partitions: 1, profile });
  const all = [...sim.events()];
  const clicks = all.filter((e): e is SimClick => e.kind === 'click');
  const humans = clicks.filter((c) => c.pattern === 'human');
  const conversions = all.filter((e): e is SimConversion => e.kind === 'conversion' && e.pattern === 'human');
  return { sim, clicks, humans, conversions, byId: new Map(clicks.map((c) => [c.id, c])) };
}

describe('simulator profiles: honest traffic that differs the way networks do (issue 14)', () => {
  it('app-s2s: install offers, no referrer, a device id on every honest click', () => {
    const { sim, humans } = traffic('app-s2s');
    const installs = new Set(sim.catalog.offers.filter((o) => o.type === 'install').map((o) => o.id));
    expect(humans.every((c) => installs.has(c.offerId) && !c.referrer && c.deviceId)).toBe(true);
  });

  it('shop: sales only, and a large share of purchases more than a day after the click (over ten days)', () => {
    const { conversions, byId } = traffic('shop', 30_000, 240);
    expect(conversions.every((c) => c.type === 'sale')).toBe(true);
    const late = conversions.filter((c) => Date.parse(c.ts) - Date.parse(byId.get(c.clickId)!.ts) > 24 * HOUR).length;
    expect(late / conversions.length).toBeGreaterThan(0.1);
  });

  it('new-publishers: publishers that join during the period carry a good part of the honest traffic', () => {
    const { humans } = traffic('new-publishers');
    const fresh = humans.filter((c) => c.publisherId.startsWith('pub-new-'));
    expect(fresh.length / humans.length).toBeGreaterThan(0.2);
    const firstSeen = new Map<string, number>();
    for (const c of fresh) if (!firstSeen.has(c.publisherId)) firstSeen.set(c.publisherId, Date.parse(c.ts));
    expect([...firstSeen.values()].some((t) => t > start.getTime() + 24 * HOUR)).toBe(true);
  });

  it('shared-address: many people (user agents) behind one address', () => {
    const { humans } = traffic('shared-address');
    const agents = new Map<string, Set<string>>();
    for (const c of humans) agents.set(c.ip, (agents.get(c.ip) ?? new Set()).add(c.userAgent));
    expect(Math.max(...[...agents.values()].map((s) => s.size))).toBeGreaterThanOrEqual(10);
  });

  it('newsletter: at least one burst of a thousand honest clicks on one offer within an hour', () => {
    const { humans } = traffic('newsletter', 60_000);
    const perHour = new Map<string, number>();
    for (const c of humans) {
      const key = `${c.offerId}|${c.publisherId}|${Math.floor(Date.parse(c.ts) / HOUR)}`;
      perHour.set(key, (perHour.get(key) ?? 0) + 1);
    }
    expect(Math.max(...perHour.values())).toBeGreaterThan(700);
  });
});

describe('user-agent lists', () => {
  it('one click per public crawler (fraud) and per public browser (legitimate), without a referrer', () => {
    const sut = [...userAgentListTraffic({ seed: 1, start, partitions: 1 })];
    expect(sut.filter((c) => c.label === 'fraud')).toHaveLength(publicCrawlerUserAgents().length);
    expect(sut.filter((c) => c.label === 'legit')).toHaveLength(publicBrowserUserAgents().length);
    expect(publicCrawlerUserAgents().length).toBeGreaterThan(1000);
    expect(publicBrowserUserAgents().length).toBeGreaterThan(500);
    expect(sut.some((c) => c.referrer)).toBe(false);
  });
});
