import { HttpException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiKeyGuard } from '@app/auth';
import type { CatalogCache } from '@app/catalog';
import type { ArbiterConfig } from '@app/config';
import type { Offer } from '@app/contracts';
import type { ApiKeyRepository, Principal } from '@app/storage';
import { anOffer } from '@app/testing';
import { IngestAuthenticator, OPEN_OFFER_LOOKUPS } from './ingest-auth.service';
import { IngestLimiter } from './ingest-limiter';

const advertiser: Principal = { keyId: 'k-adv', role: 'advertiser', subjectId: 'shop', scope: 'api' };
const publisher: Principal = { keyId: 'k-pub', role: 'publisher', subjectId: 'blog', scope: 'api' };

/**
 * The gateway's ingest doors settle what a request may cost before the work it causes (hostile
 * review 2026-12-04, findings 4 and 5): what each door reads from the key store and the catalog
 * is counted here.
 */
function doors(options: { perAddress?: number; inMemory?: Offer[]; inDatabase?: Offer[] } = {}) {
  const seen = { keyReads: 0, lookedUp: [] as string[][] };
  const keys = new Map<string, Principal>([
    ['adv-key', advertiser],
    ['pub-key', publisher],
  ]);
  const repository = {
    authenticate: async (key: string) => (seen.keyReads++, keys.get(key) ?? null),
  } as unknown as ApiKeyRepository;
  const memory = new Map((options.inMemory ?? []).map((o) => [o.id, o]));
  const catalog = {
    offer: (id: string) => memory.get(id),
    advertiser: () => undefined,
    resolve: async (ids: { offers?: string[] }) => {
      seen.lookedUp.push([...(ids.offers ?? [])]);
      for (const o of options.inDatabase ?? []) if (ids.offers?.includes(o.id)) memory.set(o.id, o);
    },
  } as unknown as CatalogCache;
  const limiter = new IngestLimiter({
    GATEWAY_RATE_LIMIT_PER_KEY_PER_MINUTE: 1000,
    GATEWAY_RATE_LIMIT_PER_PUBLISHER_PER_MINUTE: 1000,
    GATEWAY_RATE_LIMIT_PER_ADDRESS_PER_MINUTE: options.perAddress ?? 1000,
  } as ArbiterConfig);
  const sut = new IngestAuthenticator(new ApiKeyGuard(new Reflector(), repository), catalog, limiter);
  const reply = { header: () => reply } as unknown as FastifyReply;
  const request = (credential?: string, ip = '203.0.113.7') =>
    ({ ip, headers: credential ? { authorization: `Bearer ${credential}` } : {}, query: {} }) as unknown as FastifyRequest;
  const status = (p: Promise<unknown>) =>
    p.then(
      () => 200,
      (e: unknown) => (e instanceof HttpException ? e.getStatus() : 500),
    );
  return { sut, seen, limiter, reply, request, status };
}

describe('IngestAuthenticator: a pixel request (no credential)', () => {
  it('spends its address budget before any offer is looked up', async () => {
    const { sut, seen, reply, request, status } = doors({ perAddress: 10 });
    const offers = Array.from({ length: 10 }, (_, i) => `unknown-${i}`);
    expect(await status(sut.admitConversions(request(), reply, offers, 10))).toBe(401);
    expect(seen.lookedUp).toHaveLength(1);
    // The budget is spent: refused 429 before any look-up (before: 401 after another look-up).
    expect(await status(sut.admitConversions(request(), reply, ['unknown-x'], 1))).toBe(429);
    expect(seen.lookedUp).toHaveLength(1);
  });

  it(`looks up at most ${OPEN_OFFER_LOOKUPS} offers it does not hold, in one call, however many the request names`, async () => {
    const { sut, seen, reply, request, status } = doors();
    const offers = Array.from({ length: 1000 }, (_, i) => `o${i}`);
    expect(await status(sut.admitConversions(request(), reply, offers, 1000))).toBe(401);
    // Before: one call naming all 1,000 (one query each).
    expect(seen.lookedUp).toEqual([offers.slice(0, OPEN_OFFER_LOOKUPS)]);
  });

  it('takes an open offer in memory without a look-up, and still finds one created a moment ago', async () => {
    const open = anOffer({ id: 'open', openConversions: true });
    const fresh = anOffer({ id: 'fresh', openConversions: true });
    const { sut, seen, reply, request } = doors({ inMemory: [open], inDatabase: [fresh] });
    expect(await sut.admitConversions(request(), reply, ['x', 'y', 'open'], 3)).toEqual({ sender: 'pixel' });
    expect(seen.lookedUp).toEqual([]);
    expect(await sut.admitConversions(request(), reply, ['fresh'], 1)).toEqual({ sender: 'pixel' });
    expect(seen.lookedUp).toEqual([['fresh']]);
  });
});

describe('IngestAuthenticator: invented keys and tokens', () => {
  it('count against the address: after its budget, 429 and no key-store read', async () => {
    const { sut, seen, reply, request, status } = doors({ perAddress: 3 });
    const answers: number[] = [];
    for (let i = 0; i < 10; i++) answers.push(await status(sut.admitClicks(request(`invented-${i}`), reply, 1)));
    for (let i = 0; i < 10; i++) answers.push(await status(sut.admitConversions(request(`invented-c${i}`), reply, [], 1)));
    // Before: twenty 401s and twenty reads.
    expect(answers).toEqual([401, 401, 401, ...Array(17).fill(429)]);
    expect(seen.keyReads).toBe(3);
    // Another address is not held up by this one.
    expect(await status(sut.admitClicks(request('invented-elsewhere', '198.51.100.1'), reply, 1))).toBe(401);
  });

  it('count once per read: an invented key repeated (cached as unknown) is answered 401 without a read or a count', async () => {
    const { sut, seen, reply, request, status } = doors({ perAddress: 3 });
    const answers: number[] = [];
    for (let i = 0; i < 5; i++) answers.push(await status(sut.admitClicks(request('invented'), reply, 1)));
    expect(answers).toEqual([401, 401, 401, 401, 401]);
    expect(seen.keyReads).toBe(1);
    // Two more failures spend this address's three.
    for (let i = 0; i < 3; i++) answers.push(await status(sut.admitClicks(request(`invented-${i}`), reply, 1)));
    expect(answers.slice(5)).toEqual([401, 401, 429]);
  });

  it('sent all at once, reads under way count too: at most the budget of reads', async () => {
    const { sut, seen, reply, request, status } = doors({ perAddress: 3 });
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => status(sut.admitClicks(request(`invented-${i}`), reply, 1))));
    expect(answers.filter((a) => a === 401)).toHaveLength(3);
    expect(answers.filter((a) => a === 429)).toHaveLength(17);
    expect(seen.keyReads).toBe(3);
  });

  it("a partner's valid key costs its address nothing: one take per request, on its own budgets", async () => {
    const { sut, reply, request, limiter, status } = doors({ perAddress: 1 });
    const take = jest.spyOn(limiter, 'take');
    expect(await sut.admitClicks(request('pub-key'), reply, 5)).toMatchObject({ sender: 'publisher', id: 'blog' });
    expect(await sut.admitConversions(request('adv-key'), reply, [], 5)).toMatchObject({ sender: 'advertiser', id: 'shop' });
    // The address's one event is still there for a pixel.
    await expect(status(sut.admitConversions(request(), reply, [], 1))).resolves.toBe(401);
    expect(await status(sut.admitConversions(request(), reply, [], 1))).toBe(429);
    // Cached now: each request is one take (its key's and publisher's budgets), nothing charged to the address.
    take.mockClear();
    await sut.admitClicks(request('pub-key'), reply, 5);
    expect(take.mock.calls.map(([budgets]) => budgets)).toEqual([
      [
        ['key', 'k-pub'],
        ['publisher', 'blog'],
      ],
    ]);
  });
});
