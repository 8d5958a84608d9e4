import { deliveryId, retryDelayMs, waitDelayMs } from './webhook-delivery';

describe('webhook retry schedule', () => {
  it('grows threefold from the base, within ±20 % jitter', () => {
    expect(retryDelayMs(1, 2000, () => 0.5)).toBe(2000);
    expect(retryDelayMs(2, 2000, () => 0.5)).toBe(6000);
    expect(retryDelayMs(3, 2000, () => 0.5)).toBe(18_000);
    expect(retryDelayMs(1, 2000, () => 0)).toBe(1600);
    expect(retryDelayMs(1, 2000, () => 0.999999)).toBe(2400);
  });

  it('never waits more than 10 minutes (+ jitter)', () => {
    expect(retryDelayMs(30, 2000, () => 0.5)).toBe(600_000);
    expect(retryDelayMs(30, 2000, () => 1)).toBe(720_000);
  });

  it('spreads simultaneous retries apart', () => {
    const delays = new Set(Array.from({ length: 50 }, () => retryDelayMs(3)));
    expect(delays.size).toBeGreaterThan(40);
  });
});

describe('wait before a delivery handed back without an attempt is asked for again', () => {
  it('is half a second, doubling to 2 s, within ±20 % jitter', () => {
    expect([1, 2, 3, 4, 50].map((n) => waitDelayMs(n, () => 0.5))).toEqual([500, 1000, 2000, 2000, 2000]);
    expect(waitDelayMs(1, () => 0)).toBe(400);
    expect(waitDelayMs(50, () => 0.999999)).toBe(2400);
  });
});

describe('idempotency key', () => {
  it('is one per decision revision', () => {
    expect(deliveryId({ conversionId: 'v-1', revision: 0 })).toBe('v-1:0');
    expect(deliveryId({ conversionId: 'v-1', revision: 1 })).not.toBe(deliveryId({ conversionId: 'v-1', revision: 0 }));
  });
});
