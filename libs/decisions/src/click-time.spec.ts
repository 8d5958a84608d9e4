import { aClick, aPublisher, anOffer, CHROME_UA } from '@app/testing';
import { classifyIp, classifyUserAgent, type ClickObservation } from '@app/features';
import { CLICK_TIME_CODES, CLICK_TIME_RULES, clickTimeReasons, resolveRuleSet, runRules } from '@app/rules';
import { ScoringEngine } from './scoring-engine';
import { clickTimeOutcome } from './click-time';

const fallback = (layer: object = {}) =>
  resolveRuleSet({ version: 't', clickBlocking: { mode: 'fallback', fallbackUrl: 'https://network.example/oops' }, ...layer });

describe('click-time checks on the tracking link', () => {
  const offer = anOffer();
  const publisher = aPublisher();

  it.each([
    ['a declared bot', { userAgent: 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)' }, 'BOT_USER_AGENT'],
    ['a script', { userAgent: 'python-requests/2.31.0' }, 'NON_BROWSER_CLIENT'],
    ['a private address', { ip: '10.1.2.3' }, 'INVALID_IP'],
    ['a data-centre address', { ip: '3.5.140.2' }, 'DATACENTER_IP'],
  ])('sends %s to the fallback under `fallback`', (_name, overrides, code) => {
    const sut = clickTimeOutcome(fallback(), { event: aClick({ userAgent: CHROME_UA, ip: '8.8.8.8', ...overrides }), offer, publisher });
    expect(sut.blocked).toBe(true);
    expect(sut.fallbackUrl).toBe('https://network.example/oops');
    expect(sut.reasons.map((r) => r.code)).toContain(code);
  });

  it('blocks a deny-listed publisher or sub-id, and a suspended publisher', () => {
    const lists = fallback({ lists: { denySubIds: ['pub-1:bad'] } });
    expect(clickTimeOutcome(lists, { event: aClick({ userAgent: CHROME_UA, subId: 'bad' }), offer, publisher }).blocked).toBe(true);
    expect(clickTimeOutcome(lists, { event: aClick({ userAgent: CHROME_UA, subId: 'good' }), offer, publisher }).blocked).toBe(false);
    const suspended = aPublisher({ status: 'suspended' });
    expect(clickTimeOutcome(fallback(), { event: aClick({ userAgent: CHROME_UA }), offer, publisher: suspended }).blocked).toBe(true);
  });

  it('lets a clean click through, and everything through under the default `score`', () => {
    expect(clickTimeOutcome(fallback(), { event: aClick({ userAgent: CHROME_UA, ip: '8.8.8.8' }), offer, publisher }).blocked).toBe(false);
    const bot = aClick({ userAgent: 'python-requests/2.31.0' });
    expect(clickTimeOutcome(resolveRuleSet({ version: 't' }), { event: bot, offer, publisher })).toMatchObject({ blocked: false });
  });

  it('does not block on a rule in monitor mode', () => {
    const ruleset = fallback({ rules: { NON_BROWSER_CLIENT: { mode: 'monitor' } } });
    expect(clickTimeOutcome(ruleset, { event: aClick({ userAgent: 'python-requests/2.31.0' }), offer, publisher }).blocked).toBe(false);
  });

  it('gives the reasons the scorer gives the same click (same rules, no second implementation)', () => {
    const ruleset = fallback();
    const engine = new ScoringEngine(ruleset);
    for (const event of [
      aClick({ userAgent: 'curl/8.0', ip: '10.0.0.1' }),
      aClick({ userAgent: 'Mozilla/5.0 (compatible; bingbot/2.0)', ip: '3.5.140.2' }),
    ]) {
      const atLink = clickTimeReasons(ruleset, { event, offer, publisher });
      const catalog = { offer: () => offer, publisher: () => publisher, advertiser: () => undefined };
      const scored = engine
        .scoreClick(event, catalog, Date.parse(event.ts))
        .reasons.filter((r) => (CLICK_TIME_CODES as readonly string[]).includes(r.code));
      expect(atLink).toEqual(scored);
    }
  });

  it('reads only the address and the user agent of the observation (no streaming state at the link)', () => {
    const ruleset = fallback({ lists: { denyIps: ['9.9.9.9'], denyDevices: ['d-1'] } });
    for (const e of [
      aClick({ userAgent: 'curl/8.0', ip: '10.0.0.1' }),
      aClick({ ip: '9.9.9.9', deviceId: 'd-1' }),
      aClick({ ip: '3.5.140.2' }),
    ]) {
      const allowed = { ip: classifyIp(e.ip), ua: classifyUserAgent(e.userAgent) } as Record<string, unknown>;
      const obs = new Proxy(allowed, {
        get: (target, key) => {
          if (key in target) return target[key as string];
          throw new Error(`a click-time rule read obs.${String(key)}`);
        },
      }) as unknown as ClickObservation;
      expect(() => runRules(ruleset, CLICK_TIME_RULES, { event: e, obs, offer, publisher, lists: ruleset.lists })).not.toThrow();
    }
  });
});
