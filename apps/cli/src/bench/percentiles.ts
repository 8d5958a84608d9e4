import * as hdr from 'hdr-histogram-js';

export interface Percentiles {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** Latency percentiles (ms) from an HDR histogram: recorded in µs, 3 significant digits up to one hour. */
export function percentiles(valuesMs: Iterable<number>): Percentiles {
  const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
  let count = 0;
  // Recorded in microseconds so that sub-millisecond latencies keep their resolution.
  for (const v of valuesMs) {
    h.recordValue(Math.max(1, Math.round(v * 1000)));
    count++;
  }
  const ms = (us: number) => Math.round(us) / 1000;
  return {
    count,
    p50: ms(h.getValueAtPercentile(50)),
    p95: ms(h.getValueAtPercentile(95)),
    p99: ms(h.getValueAtPercentile(99)),
    max: ms(h.maxValue),
    mean: ms(h.mean),
  };
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
