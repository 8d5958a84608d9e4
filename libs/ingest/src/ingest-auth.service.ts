import { ForbiddenException, Injectable, UnauthorizedException } from '@nestjs/common';
import ipaddr from 'ipaddr.js';
import type { FastifyRequest } from 'fastify';
import { ApiKeyGuard } from '@app/auth';
import { CatalogCache } from '@app/catalog';
import type { SenderIdentity } from '@app/ingest';

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

/**
 * Who is sending to the gateway (DESIGN §3a). JSON clicks need a publisher key (for its own
 * publisher) or the admin key. Conversions need an advertiser key or the advertiser's postback
 * token, from an address on the advertiser's allow-list when it has one, or the admin key;
 * without a credential they count as an open pixel, which only offers set to accept it take.
 */
@Injectable()
export class IngestAuthenticator {
  constructor(
    private readonly keys: ApiKeyGuard,
    private readonly catalog: CatalogCache,
  ) {}

  async clickSender(request: FastifyRequest): Promise<SenderIdentity> {
    const credential = credentialOf(request);
    if (!credential) throw unauthorized('JSON clicks need a publisher key: send "Authorization: Bearer <key>"');
    const principal = await this.keys.authenticate(credential);
    if (!principal) throw unauthorized('the key is unknown or revoked');
    if (principal.role === 'admin' && principal.scope === 'api') return { sender: 'admin' };
    if (principal.role === 'publisher' && principal.scope === 'api') {
      return { sender: 'publisher', id: principal.subjectId!, keyId: principal.keyId };
    }
    throw forbidden(`JSON clicks are sent with a publisher key or the admin key; this is ${describe(principal)}`);
  }

  /** `offerIds`: the offers the request's conversions name (a request without a credential needs an open one). */
  async conversionSender(request: FastifyRequest, offerIds: readonly unknown[]): Promise<SenderIdentity> {
    const credential = credentialOf(request);
    if (!credential) {
      await requireOpenOffer(this.catalog, offerIds);
      return { sender: 'pixel' };
    }
    const principal = await this.keys.authenticate(credential);
    if (!principal) throw unauthorized('the key or postback token is unknown or revoked');
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

/**
 * Without a credential a conversion is an open pixel: refused as a whole (401) unless one of its
 * items names an offer set to accept them (the others are refused item by item).
 */
export async function requireOpenOffer(catalog: CatalogCache, offerIds: readonly unknown[]): Promise<void> {
  const named = offerIds.filter((id): id is string => typeof id === 'string');
  if (named.length) await catalog.resolve({ offers: named });
  if (!named.some((id) => catalog.offer(id)?.openConversions)) {
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
