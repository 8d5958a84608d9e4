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
