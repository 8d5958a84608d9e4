declare module 'geoip-country' {
  /** GeoLite2 country lookup; null when the address is not in the database. */
  export function lookup(ip: string): { country: string } | null;
}
