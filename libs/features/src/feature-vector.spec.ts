import { hourAngle } from './feature-vector';

describe('hourAngle', () => {
  it('equals the Date-based angle (hours and whole minutes, UTC) to the bit', () => {
    const viaDate = (t: number) => {
      const d = new Date(t);
      return ((d.getUTCHours() + d.getUTCMinutes() / 60) / 24) * 2 * Math.PI;
    };
    let seed = 1;
    const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (let i = 0; i < 50_000; i++) {
      const t = Math.floor(Date.UTC(2020, 0, 1) + rand() * 10 * 365 * 86_400_000);
      expect(hourAngle(t)).toBe(viaDate(t));
    }
    expect(hourAngle(Date.UTC(1969, 11, 31, 23, 59, 30))).toBe(viaDate(Date.UTC(1969, 11, 31, 23, 59, 30)));
  });
});
