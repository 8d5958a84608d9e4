import { EMPTY_RULESET_CONFIG, EnforcementBlock, validateConfig } from '@app/rules';
import { shadowConfig } from './ruleset.watcher';

const block = (id: string): EnforcementBlock => ({
  id,
  publisherId: 'pub-1',
  policy: 'network/p',
  evidence: {
    metric: 'invalidRate',
    rate: 0.5,
    sample: 10,
    maxRate: 0.3,
    minSample: 5,
    windowHours: 1,
    from: '2026-11-21T12:00:00.000Z',
    to: '2026-11-21T13:00:00.000Z',
  },
  createdAt: '2026-11-21T13:00:00.000Z',
  until: '2026-11-22T13:00:00.000Z',
});

describe('a running shadow’s configuration', () => {
  it('is the candidate’s layers with the active configuration’s blocks, not the ones of the day it started', () => {
    const candidate = validateConfig({
      ...EMPTY_RULESET_CONFIG,
      version: 3,
      network: { description: 'candidate' },
      blocks: [block('blk-00000001')],
    });
    const active = validateConfig({
      ...EMPTY_RULESET_CONFIG,
      version: 5,
      network: { description: 'active' },
      blocks: [block('blk-00000002')],
    });
    const sut = shadowConfig(candidate, active);
    expect(sut.network).toEqual({ description: 'candidate' });
    expect(sut.blocks?.map((b) => b.id)).toEqual(['blk-00000002']);
    // Every block lifted and forgotten: none.
    const { blocks: _b, ...none } = active;
    expect(shadowConfig(candidate, none).blocks).toBeUndefined();
  });
});
