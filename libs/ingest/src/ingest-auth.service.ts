import { ForbiddenException, Injectable, UnauthorizedException } from '@nestjs/common';
import ipaddr from 'ipaddr.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiKeyGuard } from '@app/auth';
import { CatalogCache } from '@app/catalog';
import type { SenderIdentity } from '@app/ingest';
import type { Principal } from '@app/storage';
import { IngestLimiter } from './ingest-limiter';

type Query = Record<string, string | string[] | undefined>;

/** The credential a request carries: `Authorization: Bearer`, else `X-Postback-Token`, else `token=`. */
function credentialOf(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header === 'string') {
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (match) return match[1];
  }
  const token = request.headers['x-postback-token'];
  if (typeof token === 'string' && token) return token;
  const q = (request.query ?? {}) as Query;
  const fromQuery = Array.isArray(q.token) ? q.token[0] : q.token;
  return fromQuery || null;
}

/** At most this many offers a request without a credential names are looked up in the database (those not in memory). */
export const OPEN_OFFER_LOOKUPS = 10;

/**
 * Who is sending to the gateway (DESIGN §3a), and its ingest budget spent. JSON clicks need a
 * publisher key (for its own publisher) or the admin key. Conversions need an advertiser key or
 * the advertiser's postback token, from an address on the advertiser's allow-list when it has one,
 * or the admin key; without a credential they count as an open pixel, which only offers set to
 * accept it take.
 *
 * What a request may cost is settled before the work it causes (hostile review 2026-12-04,
 * findings 4 and 5): a pixel spends its address budget before any offer is looked up, and a key
 * store read for a key or token not known to be valid is refused (`429`) once the request's address
 * has as many failed credentials this minute as its address budget, counted apart from that budget
 * (only reads that found the key unknown count), so invented credentials cost a bounded number of
 * reads while pixels, links and outages never refuse a valid key. A partner whose key is cached
 * spends one budget take per request, as before.
 */
@Injectable()
export class IngestAuthenticator {
  constructor(
    private readonly keys: ApiKeyGuard,
    private readonly catalog: CatalogCache,
    private readonly limiter: IngestLimiter,
  ) {}

  /** `events`: how many clicks the request holds (its batch size already checked). */
  async admitClicks(request: FastifyRequest, reply: FastifyReply, events: number): Promise<SenderIdentity> {
    const credential = credentialOf(request);
    if (!credential) throw unauthorized('JSON clicks need a publisher key: send "Authorization: Bearer <key>"');
    const principal = await this.principal(credential, request, reply);
    if (!principal) throw unauthorized('the key is unknown or revoked');
    const from = clickSenderOf(principal);
    this.limiter.take(IngestLimiter.budgetsOf(from, request.ip), events, reply);
    return from;
  }

  /** `offerIds`: the offers the request's conversions name (a request without a credential needs an open one). */
  async admitConversions(
    request: FastifyRequest,
    reply: FastifyReply,
    offerIds: readonly unknown[],
    events: number,
  ): Promise<SenderIdentity> {
    const credential = credentialOf(request);
    if (!credential) {
      const from: SenderIdentity = { sender: 'pixel' };
      this.limiter.take(IngestLimiter.budgetsOf(from, request.ip), events, reply);
      await requireOpenOffer(this.catalog, offerIds);
      return from;
    }
    const principal = await this.principal(credential, request, reply);
    if (!principal) throw unauthorized('the key or postback token is unknown or revoked');
    const from = await this.conversionSenderOf(principal, request);
    this.limiter.take(IngestLimiter.budgetsOf(from, request.ip), events, reply);
    return from;
  }

  /**
   * The credential's principal. A key-store read for one not known to be valid is refused 429 once
   * the request's address has that many failed credentials this minute (IngestLimiter.readCredential).
   */
  private principal(credential: string, request: FastifyRequest, reply: FastifyReply): Promise<Principal | null> {
    return this.keys.authenticate(credential, this.limiter.readCredential(request.ip, reply));
  }

  private async conversionSenderOf(principal: Principal, request: FastifyRequest): Promise<SenderIdentity> {
    if (principal.role === 'admin' && principal.scope === 'api') return { sender: 'admin' };
    if (principal.role !== 'advertiser') {
      throw forbidden(`conversions are sent with an advertiser key, a postback token or the admin key; this is ${describe(principal)}`);
    }
    const advertiserId = principal.subjectId!;
    await this.catalog.resolve({ advertisers: [advertiserId] });
    const allowed = this.catalog.advertiser(advertiserId)?.postbackAllowedIps ?? [];
    if (allowed.length && !inRanges(request.ip, allowed)) {
      throw forbidden(`advertiser "${advertiserId}" sends conversions only from its allowed addresses`);
    }
    return { sender: 'advertiser', id: advertiserId, keyId: principal.keyId };
  }
}

function clickSenderOf(principal: Principal): SenderIdentity {
  if (principal.role === 'admin' && principal.scope === 'api') return { sender: 'admin' };
  if (principal.role === 'publisher' && principal.scope === 'api') {
    return { sender: 'publisher', id: principal.subjectId!, keyId: principal.keyId };
  }
  throw forbidden(`JSON clicks are sent with a publisher key or the admin key; this is ${describe(principal)}`);
}

/**
 * Without a credential a conversion is an open pixel: refused as a whole (401) unless one of its
 * items names an offer set to accept them (the others are refused item by item). The offers in
 * memory are asked first (the cache holds the whole catalog, reloaded on every change and every
 * 30 s); only when none of them is open are the first OPEN_OFFER_LOOKUPS named offers not in
 * memory looked up, in one query, so an offer created a moment ago still takes its first pixel and a
 * request naming 50,000 invented offers costs one query, not 50,000.
 */
export async function requireOpenOffer(catalog: CatalogCache, offerIds: readonly unknown[]): Promise<void> {
  const named = [...new Set(offerIds.filter((id): id is string => typeof id === 'string'))];
  if (named.some((id) => catalog.offer(id)?.openConversions)) return;
  const unseen = named.filter((id) => !catalog.offer(id)).slice(0, OPEN_OFFER_LOOKUPS);
  if (unseen.length) await catalog.resolve({ offers: unseen });
  if (!unseen.some((id) => catalog.offer(id)?.openConversions)) {
    throw unauthorized(
      "conversions need the advertiser's key (Authorization: Bearer) or postback token (token= / X-Postback-Token); only offers open to pixel conversions take them without",
    );
  }
}

function describe(p: { role: string; scope: string }): string {
  return p.scope === 'postback' ? 'a postback token' : `a ${p.role} key`;
}

/** True when `ip` is one of the addresses or in one of the CIDR ranges (an IPv4-mapped IPv6 address counts as IPv4). */
export function inRanges(ip: string, ranges: readonly string[]): boolean {
  if (!ipaddr.isValid(ip)) return false;
  let addr = ipaddr.parse(ip);
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) addr = (addr as ipaddr.IPv6).toIPv4Address();
  return ranges.some((range) => {
    try {
      const [base, bits] = range.includes('/') ? ipaddr.parseCIDR(range) : [ipaddr.parse(range), addr.kind() === 'ipv4' ? 32 : 128];
      return base.kind() === addr.kind() && addr.match(base, bits);
    } catch {
      return false;
    }
  });
}

const unauthorized = (message: string) => new UnauthorizedException({ error: 'unauthorized', message });
const forbidden = (message: string) => new ForbiddenException({ error: 'forbidden', message });
