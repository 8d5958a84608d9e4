import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';

/** A seeded source of randomness: the same seed gives the same traffic, byte for byte. */
export class Random {
  private readonly rng;

  constructor(seed: number) {
    this.rng = xoroshiro128plus(seed | 0);
  }

  /** Uniform in [0, 1). */
  next(): number {
    return uniformFloat64(this.rng);
  }

  /** Uniform integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  uniform(lo: number, hi: number): number {
    return lo + this.next() * (hi - lo);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }

  /** Picks by weight (weights need not sum to 1). */
  weighted<T>(items: readonly T[], weights: readonly number[]): T {
    const total = weights.reduce((a, b) => a + b, 0);
    let x = this.next() * total;
    for (let i = 0; i < items.length; i++) {
      x -= weights[i];
      if (x < 0) return items[i];
    }
    return items[items.length - 1];
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Log-normal with the given median and shape σ: how dwell times and basket sizes spread. */
  logNormal(median: number, sigma: number): number {
    return median * Math.exp(sigma * this.normal());
  }

  /** Poisson-distributed count with the given mean. */
  poisson(mean: number): number {
    if (mean <= 0) return 0;
    if (mean > 50) return Math.max(0, Math.round(mean + Math.sqrt(mean) * this.normal()));
    const limit = Math.exp(-mean);
    let k = 0;
    let p = this.next();
    while (p > limit) {
      k++;
      p *= this.next();
    }
    return k;
  }

  /** A UUIDv7 for time `ms` with seeded random bits (valid, time-ordered, reproducible). */
  uuidv7(ms: number): string {
    const hex = (n: number, width: number) => Math.floor(n).toString(16).padStart(width, '0');
    const ts = hex(ms, 12);
    const randA = hex(this.int(0, 0xfff), 3);
    const variant = hex(0x8000 | this.int(0, 0x3fff), 4);
    const randB = hex(this.int(0, 0xffffff), 6) + hex(this.int(0, 0xffffff), 6);
    return `${ts.slice(0, 8)}-${ts.slice(8, 12)}-7${randA}-${variant}-${randB}`;
  }

  /** A random lowercase hex string. */
  hex(length: number): string {
    let s = '';
    while (s.length < length) s += this.int(0, 0xffffff).toString(16).padStart(6, '0');
    return s.slice(0, length);
  }
}
