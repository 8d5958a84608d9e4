import { aClick, at, fnv1a, fnvMulticollision } from '@app/testing';
import { FeatureState } from './feature-state';
import { KeyIndex, hashPart, keyHash } from './key-index';

/**
 * Hash flooding (DESIGN §3a: every sender is an adversary): a sender who can compute the tables'
 * hash sends ids that all hash alike, so that they share one probe run and every lookup walks it.
 * The ids below are built offline against FNV-1a, the unkeyed hash the tables used: Joux's
 * multicollision, one colliding pair of 4-character blocks per stage (a birthday search over the
 * 32-bit state), 2^stages ids from `stages` stages. The cost is measured as the table's own probe
 * counts, never as a time.
 */
const COLLIDING = fnvMulticollision('dev-', 11);

describe('hash flooding', () => {
  it('is attacked with ids that all have one FNV-1a hash', () => {
    expect(new Set(COLLIDING).size).toBe(2048);
    expect(new Set(COLLIDING.map((id) => fnv1a(id))).size).toBe(1);
  });

  it('the tables hash with a secret: colliding ids spread out', () => {
    expect(new Set(COLLIDING.map((id) => hashPart(id))).size).toBeGreaterThan(2040);
    const sut = new KeyIndex(COLLIDING.length, 1);
    COLLIDING.forEach((id, slot) => sut.add(slot, keyHash(hashPart(id)), id));
    const stats = sut.probeStats();
    expect(stats.keys).toBe(2048);
    // Well spread at most half full: 1.5 entries per lookup on average; colliding: 1,024.
    expect(stats.meanProbes).toBeLessThan(3);
    expect(stats.longestRun).toBeLessThan(100);
    COLLIDING.forEach((id, slot) => expect(sut.find(keyHash(hashPart(id)), id)).toBe(slot));
  });

  it('a stream of clicks with colliding device ids, sub-ids and user agents leaves every table short to probe', () => {
    const sut = new FeatureState();
    COLLIDING.forEach((id, i) =>
      sut.observeClick(aClick({ ts: at(i * 1000), ip: `203.0.${i >> 8}.${i & 255}`, deviceId: id, subId: id, userAgent: id })),
    );
    const stats = sut.probeStats();
    expect(stats.devices.keys).toBe(2048);
    expect(stats.publishers.keys).toBeGreaterThan(2048);
    expect(stats.ipUserAgent.keys).toBe(2048);
    for (const [table, s] of Object.entries(stats)) {
      const short = s.meanProbes < 3 && s.longestRun < 100;
      expect({ table, ...(short ? { short } : s) }).toEqual({ table, short: true });
    }
  });
});
