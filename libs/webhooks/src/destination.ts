import { lookup as dnsLookup, LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * Where a webhook may point. An advertiser chooses the URL, and the notifier runs inside the
 * network's infrastructure: without this check, a webhook could make the notifier call internal
 * services or a cloud metadata endpoint. Only public unicast addresses are allowed unless the
 * operator opts in (`WEBHOOK_ALLOW_PRIVATE_NETWORKS`, for tests and closed installations).
 */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  if (parsed.range() !== 'unicast') return false;
  // IPv6: global unicast (2000::/3) only. ipaddr.js calls "unicast" whatever it has no name for,
  // such as the deprecated IPv4-compatible ::a.b.c.d (`http://[::127.0.0.1]/` reached loopback).
  return parsed.kind() === 'ipv4' || parsed.match(GLOBAL_UNICAST_V6);
}

const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR('2000::/3');

/**
 * The connect-time check for a URL whose host is an address: no DNS lookup happens for it, so
 * `publicOnlyLookup` never sees it. Null when it may be called.
 */
export function literalAddressProblem(url: string, allowPrivate: boolean): string | null {
  if (allowPrivate) return null;
  let host: string;
  try {
    host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return 'is not a URL';
  }
  return ipaddr.isValid(host) && !isPublicAddress(host) ? `${host} is not a public address` : null;
}

/** Why a URL may not be a webhook, or null when it may. Resolves the host name. */
export async function destinationProblem(url: string, allowPrivate: boolean): Promise<string | null> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'is not a URL';
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return 'must be http(s)';
  if (parsed.username || parsed.password) return 'must not carry credentials';
  if (allowPrivate) return null;
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  let addresses: LookupAddress[];
  try {
    addresses = await new Promise((done, fail) => dnsLookup(host, { all: true }, (e, a) => (e ? fail(e) : done(a))));
  } catch {
    return `host "${host}" does not resolve`;
  }
  const blocked = addresses.find((a) => !isPublicAddress(a.address));
  return blocked ? `host "${host}" resolves to a private or reserved address (${blocked.address})` : null;
}

/**
 * A DNS lookup for the delivery agent that refuses non-public addresses at connection time, so a
 * host that resolved to a public address when the webhook was set cannot be re-pointed inside.
 */
export function publicOnlyLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: false }, (error, address, family) => {
      if (!error && !allowPrivate && typeof address === 'string' && !isPublicAddress(address)) {
        const refused = Object.assign(new Error(`${hostname} resolves to a non-public address`), { code: 'EADDRNOTPUBLIC' });
        return callback(refused, address, family);
      }
      callback(error, address as string, family);
    });
  };
}
