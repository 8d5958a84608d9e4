import { parseIsoMs } from './iso-time';

describe('parseIsoMs', () => {
  it('equals Date.parse on toISOString forms across four centuries and every month end', () => {
    let seed = 7;
    const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    const ms: number[] = [0, -1, 951_782_400_000, 4_107_542_399_999, -62_167_219_200_000, 253_402_300_799_999];
    for (let i = 0; i < 20_000; i++) ms.push(((next() * 2 ** 21 + (next() & 0x1fffff)) % 8.2e12) - 2e12);
    for (let y = 1999; y <= 2101; y++) for (let m = 0; m < 12; m++) ms.push(Date.UTC(y, m + 1, 0, 23, 59, 59, 999));
    for (const t of ms) {
      const s = new Date(t).toISOString();
      expect(parseIsoMs(s)).toBe(Date.parse(s));
    }
  });

  it.each([
    '2026-02-29T00:00:00.000Z',
    '2024-02-29T12:00:00.000Z',
    '2026-04-31T00:00:00.000Z',
    '2026-13-01T00:00:00.000Z',
    '2026-00-10T00:00:00.000Z',
    '2026-10-01T24:00:00.000Z',
    '2026-10-01T23:60:00.000Z',
    '2026-10-01T23:59:60.000Z',
    '2026-10-01T10:00:00.000+',
    '2026-10-01 10:00:00.000Z',
    '2026-1a-01T10:00:00.000Z',
    '2026-10-01T10:00:00.00/Z',
    '2026-10-01T10:00:00Z',
    '2026-10-01T10:00:00.000+02:00',
    '2026-10-01',
    'not a time at all, 24 ch',
    '',
  ])('falls back to Date.parse for %p', (s) => {
    expect(Object.is(parseIsoMs(s), Date.parse(s))).toBe(true);
  });
});
