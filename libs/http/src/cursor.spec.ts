import { BadRequestException } from '@nestjs/common';
import { decodeCursor, encodeCursor } from './cursor';

const forge = (ts: unknown, id: unknown = 'c1') => Buffer.from(JSON.stringify([ts, id])).toString('base64url');

describe('pagination cursors', () => {
  it('give back the position they were made from', () => {
    const position = { ts: '2026-11-20T14:03:11.000Z', id: 'c0.0193' };
    expect(decodeCursor(encodeCursor(position)!)).toEqual(position);
    expect(decodeCursor(undefined)).toBeUndefined();
  });

  it.each([
    ['a day that does not exist (rolled over by Date.parse)', forge('2026-02-30T00:00:00.000Z')],
    ['a leap second', forge('2016-12-31T23:59:60.000Z')],
    ['year 0000, which PostgreSQL has not', forge('0000-01-01T00:00:00.000Z')],
    ['year 275760, which a Date holds and PostgreSQL has not', forge('+275760-09-13T00:00:00.000Z', '')],
    ['another spelling of an instant', forge('2026-11-20T14:03:11Z')],
    ['a number for the id', forge('2026-11-20T14:03:11.000Z', 7)],
    ['not base64 JSON', '%%%'],
  ])('refuse %s with a 400 naming the cursor', (_name, cursor) => {
    expect(() => decodeCursor(cursor)).toThrow(BadRequestException);
    try {
      decodeCursor(cursor);
    } catch (e) {
      expect((e as BadRequestException).getResponse()).toMatchObject({ errors: [{ field: 'cursor', message: 'is invalid' }] });
    }
  });
});
