import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Header carrying `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. */
export const SIGNATURE_HEADER = 'arbiter-signature';
export const IDEMPOTENCY_HEADER = 'arbiter-idempotency-key';
export const ATTEMPT_HEADER = 'arbiter-delivery-attempt';

/** A new signing secret for an advertiser: 32 random bytes, shown once. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

/**
 * The signature header for a body sent at `timestamp` (seconds). During a rotation's overlap the
 * previous secret signs too: `t=…,v1=<current>,v1=<previous>` (a receiver accepts any `v1` it can
 * verify, so it can switch secrets at its own pace).
 */
export function signWebhook(secret: string, body: string, timestamp = Math.floor(Date.now() / 1000), previous?: string | null): string {
  const mac = (key: string) => createHmac('sha256', key).update(`${timestamp}.${body}`).digest('hex');
  return `t=${timestamp},v1=${mac(secret)}${previous ? `,v1=${mac(previous)}` : ''}`;
}

/**
 * What a receiver does (docs/webhooks.md): recompute the HMAC over "<t>.<raw body>" with its
 * secret, compare in constant time, and refuse timestamps older than the tolerance (replays).
 */
export function verifyWebhook(
  secret: string,
  header: string | undefined,
  body: string,
  toleranceSeconds = 300,
  now = Math.floor(Date.now() / 1000),
): boolean {
  if (!header) return false;
  const parts = header.split(',').map((p) => p.trim().split('=', 2) as [string, string]);
  const t = Number(parts.find(([k]) => k === 't')?.[1]);
  const signatures = parts.filter(([k]) => k === 'v1').map(([, v]) => Buffer.from(v ?? ''));
  if (!Number.isInteger(t) || !signatures.length || Math.abs(now - t) > toleranceSeconds) return false;
  const expected = Buffer.from(createHmac('sha256', secret).update(`${t}.${body}`).digest('hex'));
  return signatures.some((given) => expected.length === given.length && timingSafeEqual(expected, given));
}
