import { Type } from '@sinclair/typebox';
import { compiled } from './validation';

describe('the date-time format every validator uses', () => {
  const schema = compiled(Type.Object({ at: Type.String({ format: 'date-time' }) }));

  it.each([
    ['2026-11-20T14:03:11Z', true],
    ['2026-11-20T14:03:11.123+02:00', true],
    // RFC 3339 allows these; no Date (leap second) or no PostgreSQL (year 0) can hold them.
    ['2016-12-31T23:59:60Z', false],
    ['0000-01-01T00:00:00Z', false],
    ['2026-02-30T00:00:00Z', false],
    ['2026-11-20', false],
  ])('%s → %s', (at, ok) => {
    const result = schema.check({ at });
    expect(result.ok).toBe(ok);
    if (!result.ok) expect(result.errors).toEqual([{ field: 'at', message: expect.stringContaining('date-time') }]);
  });
});
