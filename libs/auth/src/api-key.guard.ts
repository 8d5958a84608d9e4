import {
  CanActivate,
  ExecutionContext,
  ForbiddenException,
  Injectable,
  ServiceUnavailableException,
  SetMetadata,
  UnauthorizedException,
  createParamDecorator,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { componentLogger } from '@app/observability';
import { ApiKeyRepository, Principal, Role, hashKey } from '@app/storage';

const ROLES = 'arbiter:roles';

/** Restricts a route (or controller) to API keys of these roles. Routes without it are public. */
export const Roles = (...roles: Role[]) => SetMetadata(ROLES, roles);

/** The caller authenticated by `ApiKeyGuard`. */
export const CurrentPrincipal = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal => {
  return ctx.switchToHttp().getRequest<FastifyRequest & { principal: Principal }>().principal;
});

// Key lookups are cached briefly: a revoked key stops working within this time.
const CACHE_MS = 10_000;
// Known keys and unknown ones are kept apart, each bounded (the oldest entry makes room): invented
// keys only ever push out other invented keys, never a partner's entry (and with it the partner's
// stale-if-error answer below).
const KNOWN_ENTRIES = 10_000;
const UNKNOWN_ENTRIES = 10_000;
// While the key store cannot be read (a database outage, or no pool connection in time under
// load), a key checked within this time keeps the answer it had: ingest and the API go on for the
// partners they already know instead of answering 500 to every request once the 10 s entry ages.
// The price: a key revoked just before an outage works until the store answers again (≤ this).
const STALE_IF_ERROR_MS = 5 * 60_000;

/**
 * `Authorization: Bearer <key>`. 401 when the key is missing, unknown or revoked; 403 when the
 * key's role may not use the route.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly known = new Map<string, { principal: Principal; until: number }>();
  private readonly unknown = new Map<string, { principal: null; until: number }>();
  /**
   * Look-ups under way, by key hash: when an entry ages, every request in flight with that key (a
   * partner's whole batch stream) waits for one look-up, not one each. Each used to take a pool
   * connection, and the gateway's answers waited behind the recorder's writes every 10 s.
   */
  private readonly reading = new Map<string, Promise<Principal | null>>();
  private readonly log = componentLogger('auth');

  constructor(
    private readonly reflector: Reflector,
    private readonly keys: ApiKeyRepository,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const roles = this.reflector.getAllAndOverride<Role[] | undefined>(ROLES, [ctx.getHandler(), ctx.getClass()]);
    if (!roles) return true;
    const request = ctx.switchToHttp().getRequest<FastifyRequest & { principal?: Principal }>();
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (!match) throw new UnauthorizedException({ error: 'unauthorized', message: 'send an API key as "Authorization: Bearer <key>"' });
    const principal = await this.authenticate(match[1]);
    // A postback token travels in URLs: it sends conversions (the gateway's own check) and reads nothing.
    if (!principal || principal.scope !== 'api')
      throw new UnauthorizedException({ error: 'unauthorized', message: 'the API key is unknown or revoked' });
    if (!roles.includes(principal.role)) {
      throw new ForbiddenException({
        error: 'forbidden',
        message: `this endpoint is for ${roles.join(' or ')} keys; this is a ${principal.role} key`,
      });
    }
    request.principal = principal;
    return true;
  }

  /**
   * The key's principal (any scope), cached briefly; null when unknown or revoked. `read` is told
   * about a key-store read for a key not known to be valid (never seen, or unknown when last read):
   * `before` it (throwing refuses it: no read happens) and `after` it, with what it found. The
   * gateway counts failed credentials per address there. A known key's refresh, a cached answer and
   * a read already under way for the same key are not reported.
   */
  async authenticate(key: string, read?: KeyReadHooks): Promise<Principal | null> {
    const hash = hashKey(key);
    const now = Date.now();
    const known = this.known.get(hash);
    const cached = known ?? this.unknown.get(hash);
    if (cached && cached.until > now) return cached.principal;
    const reported = !known && !this.reading.has(hash) ? read : undefined;
    reported?.before();
    let principal: Principal | null;
    try {
      principal = await this.read(hash, key);
    } catch (e) {
      reported?.after('failed');
      if (cached && cached.until + STALE_IF_ERROR_MS > now) return cached.principal;
      this.log.warn({ err: e }, 'API keys cannot be read; answering 503');
      throw new ServiceUnavailableException({ error: 'unavailable', message: 'API keys cannot be checked right now; send again later' });
    }
    reported?.after(principal ? 'valid' : 'unknown');
    return principal;
  }

  /** One look-up per key at a time; its answer is cached by the look-up itself, once. */
  private read(hash: string, key: string): Promise<Principal | null> {
    const under = this.reading.get(hash);
    if (under) return under;
    const read = this.keys.authenticate(key).then((principal) => {
      const until = Date.now() + CACHE_MS;
      if (principal) {
        this.unknown.delete(hash);
        remember(this.known, KNOWN_ENTRIES, hash, { principal, until });
      } else {
        // Revoked (or never issued): from now on charged like any unknown key.
        this.known.delete(hash);
        remember(this.unknown, UNKNOWN_ENTRIES, hash, { principal, until });
      }
      return principal;
    });
    this.reading.set(hash, read);
    const done = () => this.reading.delete(hash);
    read.then(done, done);
    return read;
  }
}

/** A caller's part in a key-store read for a key not known to be valid (`ApiKeyGuard.authenticate`). */
export interface KeyReadHooks {
  /** Before the read; throwing refuses it (no read happens). */
  before(): void;
  /** After the read: the key is valid, unknown (or revoked), or the store could not be read. */
  after(outcome: 'valid' | 'unknown' | 'failed'): void;
}

/** Sets `hash` last in `cache`, the oldest entry making room when it holds `entries`. */
function remember<T>(cache: Map<string, T>, entries: number, hash: string, entry: T): void {
  cache.delete(hash);
  if (cache.size >= entries) cache.delete(cache.keys().next().value!);
  cache.set(hash, entry);
}
