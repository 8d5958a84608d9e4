/**
 * The last-seen time at or below which about `n` of the `count` live slots lie, read from a sample
 * of about 2,000 of them: O(slots) and no sort of every key, for the tables' least-recently-seen eviction.
 */
export function evictionCutoff(live: Uint8Array, lastSeen: Float64Array, used: number, count: number, n: number): number {
  const sample: number[] = [];
  const every = Math.max(1, Math.floor(count / 2000));
  let i = 0;
  for (let slot = 0; slot < used; slot++) if (live[slot] && i++ % every === 0) sample.push(lastSeen[slot]);
  sample.sort((x, y) => x - y);
  return sample[Math.min(sample.length - 1, Math.floor((n / count) * sample.length))];
}
