/**
 * Memoises a pure function of a string with a bounded cache (cleared when full): the inputs that
 * repeat in traffic (user agents, IPs) cost one computation each while memory stays flat.
 */
export function memoize<T>(fn: (key: string) => T, max: number): (key: string) => T {
  const cache = new Map<string, T>();
  return (key) => {
    let found = cache.get(key);
    if (found === undefined) {
      found = fn(key);
      if (cache.size >= max) cache.clear();
      cache.set(key, found);
    }
    return found;
  };
}

/**
 * One shared instance per distinct string (offer, publisher and sub-ids, countries): the scorer
 * keeps a million clicks, and the same ids parsed from a million messages would otherwise be a
 * million copies. Bounded like `memoize`; clearing only stops the sharing of what is kept.
 */
export const intern: (s: string) => string = (() => {
  const pool = new Map<string, string>();
  return (s: string) => {
    const found = pool.get(s);
    if (found !== undefined) return found;
    if (pool.size >= 200_000) pool.clear();
    pool.set(s, s);
    return s;
  };
})();
