import { BadRequestException } from '@nestjs/common';

/** Opaque pagination cursors: the last item's keyset position, base64url-encoded JSON. */
export function encodeCursor(position: { ts: string; id: string } | null): string | null {
  return position ? Buffer.from(JSON.stringify([position.ts, position.id])).toString('base64url') : null;
}

/** What `Date.prototype.toISOString()` writes for this very instant: nothing else came from this API. */
function sameInstant(ts: string): boolean {
  const at = new Date(ts);
  return !Number.isNaN(at.getTime()) && at.toISOString() === ts;
}

export function decodeCursor(cursor: string | undefined): { ts: string; id: string } | undefined {
  if (!cursor) return undefined;
  try {
    const [ts, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string];
    // An ISO instant that reads back exactly (no 2026-02-30 rolled over, no leap second), of a year PostgreSQL has.
    // Four-digit years only: `+275760-09-13T…` is an instant a Date holds but PostgreSQL does not (a 500).
    if (typeof ts === 'string' && typeof id === 'string' && /^\d{4}-/.test(ts) && !ts.startsWith('0000') && sameInstant(ts))
      return { ts, id };
  } catch {
    // fall through
  }
  throw new BadRequestException({
    error: 'validation_failed',
    message: 'cursor is not one this API returned',
    errors: [{ field: 'cursor', message: 'is invalid' }],
  });
}
