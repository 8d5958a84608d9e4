import * as geoip from 'geoip-country';

/**
 * Country of an IP address from the GeoLite2 country database bundled with `geoip-country`
 * (data by MaxMind, https://www.maxmind.com). Null for private, reserved or malformed addresses.
 */
export function countryOfIp(ip: string): string | null {
  if (!ip) return null;
  try {
    return geoip.lookup(ip)?.country ?? null;
  } catch {
    return null;
  }
}
