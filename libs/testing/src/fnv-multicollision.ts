const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** FNV-1a 32-bit from state `h` over `s` (from 0x811c9dc5: the hash of `s`). */
export function fnv1a(s: string, h = 0x811c9dc5): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h | 0;
}

/**
 * 2^stages distinct printable strings (`prefix` + 4 × stages characters) with one and the same
 * FNV-1a 32-bit hash, built as an attacker would, offline and cheaply (2,048 in about 70 ms):
 * Joux's multicollision, one colliding pair of 4-character blocks per stage, found by a birthday
 * search over the 32-bit state. Deterministic (a fixed PRNG seed): the same strings in every run.
 */
export function fnvMulticollision(prefix: string, stages: number): string[] {
  // mulberry32
  let seed = 0x5eed;
  const random = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const block = () => Array.from({ length: 4 }, () => ALPHABET[Math.floor(random() * ALPHABET.length)]).join('');
  let ids = [prefix];
  let state = fnv1a(prefix);
  for (let stage = 0; stage < stages; stage++) {
    const seen = new Map<number, string>();
    for (;;) {
      const b = block();
      const next = fnv1a(b, state);
      const other = seen.get(next);
      if (other !== undefined && other !== b) {
        ids = ids.flatMap((id) => [id + other, id + b]);
        state = next;
        break;
      }
      seen.set(next, b);
    }
  }
  return ids;
}
