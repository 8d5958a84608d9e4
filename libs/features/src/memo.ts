/**
 * Memoises a pure function of a string with a bounded cache (cleared when full): the inputs that
 * repeat in traffic (user agents, IPs) cost one computation each while memory stays flat. Full at
 * `max` entries or, for keys a sender chooses the length of, `maxChars` characters of keys: a
 * count alone would let 2,048-character user agents make the cache a hundred times its size.
 */
export function memoize<T>(fn: (key: string) => T, max: number, maxChars = Infinity): (key: string) => T {
  const cache = new Map<string, T>();
  let chars = 0;
  return (key) => {
    let found = cache.get(key);
    if (found === undefined) {
      found = fn(key);
      if (cache.size >= max || chars + key.length > maxChars) {
        cache.clear();
        chars = 0;
      }
      cache.set(key, found);
      chars += key.length;
    }
    return found;
  };
}

/**
 * One shared instance per distinct string (offer, publisher and sub-ids, countries): the scorer
 * keeps a million clicks, and the same ids parsed from a million messages would otherwise be a
 * million copies. Bounded like `memoize` (200,000 strings, 8 M characters: sub-ids are up to
 * 256); clearing only stops the sharing of what is kept.
 */
export const intern: (s: string) => string = memoize((s) => s, 200_000, 8_000_000);
