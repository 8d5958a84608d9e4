import type { NatsConnection } from '@nats-io/nats-core';
import type { Advertiser, Offer, Publisher } from '@app/contracts';
import type { Topology } from '@app/contracts';
import type { CatalogRepository } from '@app/storage';
import { anOffer } from '@app/testing';
import { CatalogCache, LOOKUP_CHUNK } from './catalog.cache';

/** A catalog store that counts its queries, the most under way at once, and the ids each named. */
function store(offers: Offer[] = []) {
  const seen = { queries: 0, inFlight: 0, mostInFlight: 0, ids: [] as string[][] };
  const query = async <T>(ids: readonly string[], rows: T[]): Promise<T[]> => {
    seen.queries++;
    seen.ids.push([...ids]);
    seen.mostInFlight = Math.max(seen.mostInFlight, ++seen.inFlight);
    await new Promise((r) => setTimeout(r, 1));
    seen.inFlight--;
    return rows;
  };
  const repository = {
    findOffers: (ids: readonly string[]) =>
      query(
        ids,
        offers.filter((o) => ids.includes(o.id)),
      ),
    findPublishers: (ids: readonly string[]) => query<Publisher>(ids, []),
    findAdvertisers: (ids: readonly string[]) => query<Advertiser>(ids, []),
    findOffer: () => Promise.reject(new Error('one query per id')),
    findPublisher: () => Promise.reject(new Error('one query per id')),
    findAdvertiser: () => Promise.reject(new Error('one query per id')),
  } as unknown as CatalogRepository;
  return { seen, cache: new CatalogCache(repository, {} as Topology, {} as NatsConnection) };
}

describe('CatalogCache.resolve', () => {
  it('looks up the ids it does not hold in one query per kind, not one per id', async () => {
    const { seen, cache } = store([anOffer({ id: 'shoes' })]);
    await cache.resolve({
      offers: ['shoes', 'nope-1', 'nope-2', 'shoes'],
      publishers: ['p1', 'p2'],
      advertisers: ['a1'],
    });
    expect(seen.queries).toBe(3);
    expect(cache.offer('shoes')?.id).toBe('shoes');
    expect(cache.offer('nope-1')).toBeUndefined();
    // Misses are remembered: the same ids again cost nothing.
    await cache.resolve({ offers: ['shoes', 'nope-1', 'nope-2'], publishers: ['p1', 'p2'], advertisers: ['a1'] });
    expect(seen.queries).toBe(3);
  });

  it('names at most LOOKUP_CHUNK ids a query and runs the chunks of a kind in turn (20,000 offers: 20 queries, one at a time)', async () => {
    const { seen, cache } = store([anOffer({ id: 'o19999' })]);
    await cache.resolve({ offers: Array.from({ length: 20_000 }, (_, i) => `o${i}`) });
    expect(seen.queries).toBe(20_000 / LOOKUP_CHUNK);
    expect(Math.max(...seen.ids.map((ids) => ids.length))).toBe(LOOKUP_CHUNK);
    expect(seen.mostInFlight).toBe(1);
    // Every id was looked up: the last chunk's offer is known.
    expect(cache.offer('o19999')).toBeDefined();
  });
});
