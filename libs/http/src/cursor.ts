import { BadRequestException } from '@nestjs/common';

// What `Date.prototype.toISOString()` writes; nothing else came from this API.
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Opaque pagination cursors: the last item's keyset position, base64url-encoded JSON. */
export function encodeCursor(position: { ts: string; id: string } | null): string | null {
  return position ? Buffer.from(JSON.stringify([position.ts, position.id])).toString('base64url') : null;
}

export function decodeCursor(cursor: string | undefined): { ts: string; id: string } | undefined {
  if (!cursor) return undefined;
  try {
    const [ts, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string];
    if (typeof ts === 'string' && typeof id === 'string' && ISO_INSTANT.test(ts) && !Number.isNaN(Date.parse(ts))) return { ts, id };
  } catch {
    // fall through
  }
  throw new BadRequestException({
    error: 'validation_failed',
    message: 'cursor is not one this API returned',
    errors: [{ field: 'cursor', message: 'is invalid' }],
  });
}
