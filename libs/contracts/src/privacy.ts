import ipaddr from 'ipaddr.js';
import type { Evidence } from './reason-codes';

/**
 * An end-user IP as a publisher may see it: IPv4 to its /24 (`203.0.113.x`), IPv6 to its /48.
 * Enough to recognise a network, not a person. Anything that is not an address passes unchanged.
 */
export function maskIp(value: string): string {
  if (!ipaddr.isValid(value)) return value;
  let addr = ipaddr.parse(value);
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) addr = (addr as ipaddr.IPv6).toIPv4Address();
  if (addr.kind() === 'ipv4') {
    const [a, b, c] = (addr as ipaddr.IPv4).octets;
    return `${a}.${b}.${c}.x`;
  }
  const parts = (addr as ipaddr.IPv6).parts.slice(0, 3).map((p) => p.toString(16));
  return `${parts.join(':')}::/48`;
}

/** Evidence with every value that is an IP address masked. */
export function maskEvidence(evidence: Evidence): Evidence {
  const out: Evidence = {};
  for (const [k, v] of Object.entries(evidence)) out[k] = typeof v === 'string' ? maskIp(v) : v;
  return out;
}
