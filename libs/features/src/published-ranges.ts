import ipaddr from 'ipaddr.js';

/**
 * The CIDR blocks in a provider's published range file, whatever its shape: the JSON files of AWS
 * (`ip-ranges.json`), Google Cloud (`cloud.json`), Azure (service tags) and Oracle
 * (`public_ip_ranges.json`) — every string in the document that is a CIDR block, found by walking it —
 * or text: a geofeed CSV (RFC 8805, as DigitalOcean, Linode and Vultr publish) or one range per line,
 * reading the first field of each line and skipping `#` comments. Duplicates are dropped; order kept.
 */
export function parsePublishedRanges(text: string): string[] {
  const found = new Set<string>();
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    const walk = (v: unknown): void => {
      if (typeof v === 'string') {
        if (v.includes('/') && ipaddr.isValidCIDR(v)) found.add(v);
      } else if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object') Object.values(v).forEach(walk);
    };
    walk(JSON.parse(text));
  } else {
    for (const raw of text.split(/\r?\n/)) {
      const field = raw.replace(/#.*/, '').split(/[,\s]/)[0]?.trim();
      if (!field) continue;
      if (ipaddr.isValidCIDR(field) || (!field.includes('/') && ipaddr.isValid(field))) found.add(field);
      else throw new Error(`"${field}" is not an IP address or CIDR range`);
    }
  }
  return [...found];
}
