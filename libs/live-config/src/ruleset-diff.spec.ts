import { diffRuleSets } from './ruleset-diff';

describe('diffRuleSets', () => {
  const base = { version: 3, network: { policy: { holdThreshold: 0.35 } }, advertisers: {}, offers: {}, updatedAt: 'x' };

  it('says nothing when only the bookkeeping changed', () => {
    expect(diffRuleSets(base, { ...base, version: 4, updatedAt: 'y', updatedBy: 'k' })).toEqual([]);
  });

  it('names each added, removed and changed setting by its path', () => {
    const sut = diffRuleSets(
      { ...base, offers: { shoes: { rules: { IP_VELOCITY: { perMinute: 20 } } } } },
      {
        ...base,
        network: { policy: { holdThreshold: 0.3 } },
        advertisers: { studio: { policy: { holdHours: 48 } } },
        offers: { shoes: { rules: { IP_VELOCITY: { perMinute: 2, perHour: 100 } } } },
      },
    );
    expect(sut).toEqual([
      { path: 'advertisers.studio', op: 'added', to: { policy: { holdHours: 48 } } },
      { path: 'network.policy.holdThreshold', op: 'changed', from: 0.35, to: 0.3 },
      { path: 'offers.shoes.rules.IP_VELOCITY.perHour', op: 'added', to: 100 },
      { path: 'offers.shoes.rules.IP_VELOCITY.perMinute', op: 'changed', from: 20, to: 2 },
    ]);
  });

  it('reports a list by the entries that came and went', () => {
    const sut = diffRuleSets({ lists: { denyIps: ['1.1.1.1', '2.2.2.2'] } }, { lists: { denyIps: ['2.2.2.2', '3.3.3.0/24'] } });
    expect(sut).toEqual([{ path: 'lists.denyIps', op: 'list', added: ['3.3.3.0/24'], removed: ['1.1.1.1'] }]);
  });

  it('reports a removed layer with what it held', () => {
    expect(diffRuleSets({ offers: { shoes: { description: 'd' } } }, { offers: {} })).toEqual([
      { path: 'offers.shoes', op: 'removed', from: { description: 'd' } },
    ]);
  });
});
