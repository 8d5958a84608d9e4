import { SKETCH_REGISTERS, distinctKey, keyHash, valueHash } from '@app/features';

/**
 * Values that a distinct-count sketch keyed with `secret` counts as about one: each lands in
 * register 0 with rank 1 (the top bit of its hash set), found by trying `prefix0`, `prefix1`, … —
 * about 64 tries per value. What a sender who knows the key (the public offline one) builds: past
 * the first four (counted exactly), hundreds of them read as one or two.
 */
export function sketchCollisions(secret: string, prefix: string, n: number): string[] {
  const key = distinctKey(secret);
  const found: string[] = [];
  for (let i = 0; found.length < n; i++) {
    const value = `${prefix}${i}`;
    const h = keyHash(valueHash(key, value));
    if ((h & (SKETCH_REGISTERS - 1)) === 0 && h < 0) found.push(value);
  }
  return found;
}
