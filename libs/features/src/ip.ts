import ipaddr from 'ipaddr.js';
import { memoize } from './memo';

/** What an IP address is, for INVALID_IP and as a model feature. */
export interface IpClass {
  valid: boolean;
  version: 4 | 6 | null;
  /** ipaddr.js range name: `unicast` for public addresses, `private`, `loopback`, … or `malformed`. */
  range: string;
  /** Normalised text form (IPv4-mapped IPv6 reduced to IPv4); the raw input when malformed. */
  normalized: string;
}

/** Classifies an address; cached, since traffic repeats addresses. */
export const classifyIp: (ip: string) => IpClass = memoize(classify, 100_000);

function classify(ip: string): IpClass {
  if (!ipaddr.isValid(ip)) return { valid: false, version: null, range: 'malformed', normalized: ip };
  let addr = ipaddr.parse(ip);
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) addr = (addr as ipaddr.IPv6).toIPv4Address();
  // `ipaddr.isValid` accepts shorthand like "10.1" or "0x7f.1"; only the canonical forms are real client addresses.
  if (addr.kind() === 'ipv4' && !ipaddr.IPv4.isValidFourPartDecimal(ip) && !ip.includes(':')) {
    return { valid: false, version: null, range: 'malformed', normalized: ip };
  }
  const range = addr.range();
  return { valid: range === 'unicast', version: addr.kind() === 'ipv4' ? 4 : 6, range, normalized: addr.toString() };
}
