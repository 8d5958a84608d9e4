import { countryOfIp } from '@app/ingest';
import { CidrSet, STARTER_DATACENTER_RANGES, classifyIp } from '@app/features';
import { Random } from './random';

const datacenter = new CidrSet(STARTER_DATACENTER_RANGES);
// The simulator's addresses are IPv4: its data-center traffic comes from the starter list's IPv4 blocks.
const DATACENTER_V4 = STARTER_DATACENTER_RANGES.filter((r) => !r.cidr.includes(':'));

/**
 * Public residential-looking IPv4 addresses grouped by their real GeoLite2 country, found by
 * sampling the address space and looking each up, so traffic "from Germany" really resolves to
 * Germany in the engine. Data-center ranges are left out (those belong to the fraud patterns).
 */
export class IpPools {
  private readonly byCountry = new Map<string, string[]>();

  constructor(rng: Random, countries: readonly string[], perCountry = 400, maxSamples = 2_000_000) {
    const wanted = new Set(countries);
    for (const c of countries) this.byCountry.set(c, []);
    let full = 0;
    for (let i = 0; i < maxSamples && full < wanted.size; i++) {
      const ip = `${rng.int(1, 223)}.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(1, 254)}`;
      if (!classifyIp(ip).valid || datacenter.match(ip)) continue;
      const country = countryOfIp(ip);
      if (!country || !wanted.has(country)) continue;
      const pool = this.byCountry.get(country)!;
      if (pool.length < perCountry) {
        pool.push(ip);
        if (pool.length === perCountry) full++;
      }
    }
  }

  /** Countries for which addresses were found. */
  get countries(): string[] {
    return [...this.byCountry].filter(([, p]) => p.length > 0).map(([c]) => c);
  }

  /** A fresh address in `country`: the pool's /24 with a new host part (keeps the country). */
  fresh(rng: Random, country: string): string {
    const pool = this.byCountry.get(country);
    if (!pool?.length) throw new Error(`no IP addresses found for ${country}`);
    const base = rng.pick(pool).split('.');
    return `${base[0]}.${base[1]}.${base[2]}.${rng.int(1, 254)}`;
  }

  /** An address from a data-center range of the starter list. */
  static datacenter(rng: Random): string {
    const { cidr } = rng.pick(DATACENTER_V4);
    const [base, bits] = cidr.split('/');
    const octets = base.split('.').map(Number);
    const span = 2 ** (32 - Number(bits));
    const offset = rng.int(1, span - 2);
    const n = ((octets[0] << 24) >>> 0) + (octets[1] << 16) + (octets[2] << 8) + octets[3] + offset;
    return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
  }
}
