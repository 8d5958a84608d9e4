import ipaddr from 'ipaddr.js';
import { Evidence, EvidenceRow, EvidenceScalar, REASON_CODES, isReasonCode } from './reason-codes';
import type { Reason } from './verdict.schema';

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

/** Evidence with every value that is an IP address masked, in its tables' rows too. */
export function maskEvidence(evidence: Evidence): Evidence {
  const out: Evidence = {};
  for (const [k, v] of Object.entries(evidence)) out[k] = Array.isArray(v) ? v.map(maskRow) : maskScalar(v);
  return out;
}

function maskScalar(v: EvidenceScalar): EvidenceScalar {
  return typeof v === 'string' ? maskIp(v) : v;
}

function maskRow(row: EvidenceRow): EvidenceRow {
  const out: EvidenceRow = {};
  for (const [k, v] of Object.entries(row)) out[k] = maskScalar(v);
  return out;
}

/**
 * A reason as a publisher may see it (DESIGN §3a): the message is rebuilt from the masked
 * evidence (a stored message may quote a visitor's full address), and model numbers and analysts'
 * notes are left out of both.
 */
export function publisherReason(reason: Pick<Reason, 'code' | 'evidence' | 'message'>): { message: string; evidence: Evidence } {
  const evidence = maskEvidence(reason.evidence ?? {});
  if (!isReasonCode(reason.code)) return { message: maskText(reason.message), evidence };
  const spec = REASON_CODES[reason.code];
  if (!spec.forPublishers) return { message: spec.explain(evidence), evidence };
  for (const key of spec.forPublishers.hide) delete evidence[key];
  return { message: spec.forPublishers.explain(evidence), evidence };
}

/** Masks every IPv4 address and every IPv6-looking token in free text. */
function maskText(text: string): string {
  return text.replace(/[0-9A-Fa-f:.]*[:.][0-9A-Fa-f:.]+/g, (token) => maskIp(token));
}
