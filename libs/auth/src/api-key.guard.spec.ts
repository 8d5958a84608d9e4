import { ServiceUnavailableException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { ApiKeyRepository, Principal } from '@app/storage';
import { ApiKeyGuard } from './api-key.guard';

/** The key store as the guard sees it: answers, or fails like a database that is away. */
function keyStore(principal: Principal | null) {
  const store = { down: false, reads: 0 };
  const repository = {
    authenticate: async () => {
      store.reads++;
      if (store.down) throw Object.assign(new Error('Connection terminated due to connection timeout'), { code: 'ECONNREFUSED' });
      return principal;
    },
  } as unknown as ApiKeyRepository;
  return { store, repository };
}

const publisher: Principal = { keyId: 'k1', role: 'publisher', subjectId: 'pub-1', scope: 'api' };

describe('ApiKeyGuard.authenticate while the key store is away', () => {
  let now = Date.parse('2026-12-01T12:00:00Z');
  beforeEach(() => jest.spyOn(Date, 'now').mockImplementation(() => now));
  afterEach(() => jest.restoreAllMocks());

  it('keeps the answer a key had minutes ago instead of failing the request', async () => {
    const { store, repository } = keyStore(publisher);
    const sut = new ApiKeyGuard(new Reflector(), repository);
    expect(await sut.authenticate('key')).toEqual(publisher);
    store.down = true;
    now += 60_000; // the 10 s cache entry has aged
    expect(await sut.authenticate('key')).toEqual(publisher);
    expect(store.reads).toBe(2);
  });

  it('answers 503 (send again) for a key it has not seen, never 500', async () => {
    const { store, repository } = keyStore(publisher);
    store.down = true;
    const sut = new ApiKeyGuard(new Reflector(), repository);
    await expect(sut.authenticate('key')).rejects.toBeInstanceOf(ServiceUnavailableException);
  });

  it('stops trusting the old answer once the outage outlasts the grace period', async () => {
    const { store, repository } = keyStore(publisher);
    const sut = new ApiKeyGuard(new Reflector(), repository);
    await sut.authenticate('key');
    store.down = true;
    now += 6 * 60_000;
    await expect(sut.authenticate('key')).rejects.toBeInstanceOf(ServiceUnavailableException);
  });

  it('reads the store again once it is back (a revoked key stops working)', async () => {
    const { store, repository } = keyStore(publisher);
    const sut = new ApiKeyGuard(new Reflector(), repository);
    await sut.authenticate('key');
    store.down = true;
    now += 60_000;
    await sut.authenticate('key');
    store.down = false;
    (repository as unknown as { authenticate: () => Promise<null> }).authenticate = async () => null;
    now += 1;
    expect(await sut.authenticate('key')).toBeNull();
  });
});

describe('ApiKeyGuard.authenticate when a cached key ages under load', () => {
  afterEach(() => jest.restoreAllMocks());

  it('reads the key store once for all the requests in flight with that key, and again once it has answered', async () => {
    let answer!: (p: Principal) => void;
    let reads = 0;
    const repository = {
      authenticate: () => {
        reads++;
        return new Promise<Principal>((resolve) => (answer = resolve));
      },
    } as unknown as ApiKeyRepository;
    const sut = new ApiKeyGuard(new Reflector(), repository);
    const waiting = Array.from({ length: 100 }, () => sut.authenticate('key'));
    expect(reads).toBe(1);
    answer(publisher);
    expect(await Promise.all(waiting)).toEqual(Array(100).fill(publisher));
    // Cached now; once the entry ages, one read again.
    let now = Date.now();
    jest.spyOn(Date, 'now').mockImplementation(() => now);
    expect(await sut.authenticate('key')).toEqual(publisher);
    expect(reads).toBe(1);
    now += 11_000;
    const again = sut.authenticate('key');
    expect(reads).toBe(2);
    answer(publisher);
    expect(await again).toEqual(publisher);
  });

  it('fails every waiting request alike when the one read fails (stale answer or 503), and reads again next time', async () => {
    let reads = 0;
    let fail = true;
    const repository = {
      authenticate: async () => {
        reads++;
        if (fail) throw Object.assign(new Error('Connection terminated due to connection timeout'), { code: 'ECONNREFUSED' });
        return publisher;
      },
    } as unknown as ApiKeyRepository;
    const sut = new ApiKeyGuard(new Reflector(), repository);
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => sut.authenticate('key')));
    expect(results.every((r) => r.status === 'rejected' && r.reason instanceof ServiceUnavailableException)).toBe(true);
    expect(reads).toBe(1);
    fail = false;
    expect(await sut.authenticate('key')).toEqual(publisher);
    expect(reads).toBe(2);
  });
});

describe('ApiKeyGuard.authenticate under a flood of invented keys (hostile review 2026-12-04, finding 5)', () => {
  let now = Date.parse('2026-12-01T12:00:00Z');
  beforeEach(() => jest.spyOn(Date, 'now').mockImplementation(() => now));
  afterEach(() => jest.restoreAllMocks());

  it('never lets unknown keys push a known key out of the cache (its stale answer survives an outage)', async () => {
    let down = false;
    const repository = {
      authenticate: async (key: string) => {
        if (down) throw Object.assign(new Error('Connection terminated due to connection timeout'), { code: 'ECONNREFUSED' });
        return key === 'real' ? publisher : null;
      },
    } as unknown as ApiKeyRepository;
    const sut = new ApiKeyGuard(new Reflector(), repository);
    expect(await sut.authenticate('real')).toEqual(publisher);
    for (let i = 0; i < 10_001; i++) expect(await sut.authenticate(`invented-${i}`)).toBeNull();
    down = true;
    now += 60_000;
    // Before: the partner's entry was the oldest of 10,000 and went first: 503.
    expect(await sut.authenticate('real')).toEqual(publisher);
  });

  it('reports a read of a key not known to be valid, before and after, never a known key, a cached answer or a read under way', async () => {
    let reads = 0;
    let valid = new Set(['real']);
    let down = false;
    const repository = {
      authenticate: async (key: string) => {
        reads++;
        if (down) throw Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' });
        return valid.has(key) ? publisher : null;
      },
    } as unknown as ApiKeyRepository;
    const sut = new ApiKeyGuard(new Reflector(), repository);
    const seen: string[] = [];
    const hooks = (key: string) => ({
      before: () => void seen.push(`${key}?`),
      after: (outcome: string) => void seen.push(`${key}:${outcome}`),
    });
    await sut.authenticate('real', hooks('real')); // never seen
    await sut.authenticate('invented', hooks('invented'));
    await sut.authenticate('invented', hooks('invented')); // cached: no read, not reported
    await Promise.all([sut.authenticate('other', hooks('other')), sut.authenticate('other', hooks('other'))]); // one read
    expect(seen).toEqual(['real?', 'real:valid', 'invented?', 'invented:unknown', 'other?', 'other:unknown']);
    expect(reads).toBe(3);
    seen.length = 0;
    now += 11_000;
    await sut.authenticate('real', hooks('real')); // a known key's refresh is not reported
    await sut.authenticate('invented', hooks('invented')); // unknown when last read: reported again
    expect(seen).toEqual(['invented?', 'invented:unknown']);
    // Revoked: from then on reported like any unknown key.
    valid = new Set();
    now += 11_000;
    expect(await sut.authenticate('real', hooks('real'))).toBeNull();
    now += 11_000;
    down = true;
    expect(await sut.authenticate('real', hooks('real'))).toBeNull(); // the stale answer; the read failed
    await expect(sut.authenticate('never-seen', hooks('never-seen'))).rejects.toThrow(ServiceUnavailableException);
    expect(seen).toEqual(['invented?', 'invented:unknown', 'real?', 'real:failed', 'never-seen?', 'never-seen:failed']);
  });

  it('does not read the store when the caller refuses the read', async () => {
    let reads = 0;
    const repository = { authenticate: async () => (reads++, null) } as unknown as ApiKeyRepository;
    const sut = new ApiKeyGuard(new Reflector(), repository);
    const after = jest.fn();
    const refuse = () => {
      throw new Error('over budget');
    };
    await expect(sut.authenticate('invented', { before: refuse, after })).rejects.toThrow('over budget');
    expect(reads).toBe(0);
    expect(after).not.toHaveBeenCalled();
  });
});
