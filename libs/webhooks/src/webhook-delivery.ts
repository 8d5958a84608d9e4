import { Agent, Dispatcher, request } from 'undici';
import type { Decision } from '@app/contracts';
import { literalAddressProblem, publicOnlyLookup } from './destination';
import { ATTEMPT_HEADER, IDEMPOTENCY_HEADER, SIGNATURE_HEADER, signWebhook } from './signature';

export interface DeliveryPolicy {
  /** Attempts before a delivery goes to the dead-letter subject. */
  maxAttempts: number;
  /** Dead-lettered deliveries in a row after which an endpoint is parked. */
  parkAfter: number;
  timeoutMs: number;
  /** Delay before the first retry. */
  retryBaseMs: number;
}

export const DEFAULT_DELIVERY_POLICY: DeliveryPolicy = { maxAttempts: 8, parkAfter: 5, timeoutMs: 10_000, retryBaseMs: 2000 };

export interface AttemptResult {
  ok: boolean;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

/** The idempotency key of a decision's delivery: one per revision, so a change is a new delivery. */
export function deliveryId(d: Pick<Decision, 'conversionId' | 'revision'>): string {
  return `${d.conversionId}:${d.revision}`;
}

/**
 * Back-off before attempt `n + 1`: base × 3ⁿ⁻¹ (base 2 s by default) capped at 10 minutes, with
 * ±20 % jitter so that a recovering endpoint is not hit by every retry at once (so 8 to 12 minutes
 * at the cap). With the defaults, eight attempts span about 22 minutes.
 */
export function retryDelayMs(attempt: number, baseMs = DEFAULT_DELIVERY_POLICY.retryBaseMs, random: () => number = Math.random): number {
  const base = Math.min(600_000, baseMs * 3 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.8 + random() * 0.4));
}

/**
 * How long a delivery handed back without a request (its partner at its cap, another copy sending it)
 * waits before it is asked for again, at its `deliveries`-th delivery from the queue: 0.5 s, 1 s, then
 * 2 s (the first retry's delay by default), ±20 % jitter. Short, as what it waits for ends within the
 * send's timeout; never longer, however often it waited (or failed) before.
 */
export function waitDelayMs(deliveries: number, random: () => number = Math.random): number {
  const base = Math.min(2_000, 250 * 2 ** Math.max(1, deliveries));
  return Math.round(base * (0.8 + random() * 0.4));
}

/** The HTTP client of webhook deliveries: keeps connections to receivers alive, refuses non-public addresses. */
export function deliveryAgent(allowPrivateNetworks: boolean): Dispatcher {
  return new Agent({ connect: { lookup: publicOnlyLookup(allowPrivateNetworks) }, keepAliveTimeout: 30_000, connections: 8 });
}

/** One signed request of a delivery: an advertiser's webhook (POST, the decision as JSON) or a publisher's postback (GET). */
export interface SignedRequest {
  method: 'GET' | 'POST';
  url: string;
  /** The JSON body of a POST; a GET has none. */
  body?: string;
  secret: string;
  previousSecret?: string | null;
  idempotencyKey: string;
  attempt: number;
  userAgent: string;
}

/**
 * What the signature covers: a POST's raw body; a GET's request target, the path and query exactly
 * as sent (what the receiver reads as `req.url` in Node, `$request_uri` in nginx).
 */
export function signedContent(request: Pick<SignedRequest, 'method' | 'url' | 'body'>): string {
  if (request.method === 'POST') return request.body ?? '';
  const u = new URL(request.url);
  return `${u.pathname}${u.search}`;
}

/** Sends one signed request of a delivery; never throws. Redirects are not followed. */
export async function sendSigned(
  r: SignedRequest,
  options: { timeoutMs: number; dispatcher: Dispatcher; allowPrivateNetworks: boolean },
): Promise<AttemptResult> {
  const started = performance.now();
  // An address in the URL is connected to without a lookup: the agent's check never sees it.
  const literal = literalAddressProblem(r.url, options.allowPrivateNetworks);
  if (literal) return { ok: false, statusCode: null, error: `refused: ${literal}`, durationMs: 0 };
  try {
    const res = await request(r.url, {
      method: r.method,
      headers: {
        ...(r.body !== undefined ? { 'content-type': 'application/json' } : {}),
        'user-agent': r.userAgent,
        [SIGNATURE_HEADER]: signWebhook(r.secret, signedContent(r), undefined, r.previousSecret),
        [IDEMPOTENCY_HEADER]: r.idempotencyKey,
        [ATTEMPT_HEADER]: String(r.attempt),
      },
      body: r.body,
      dispatcher: options.dispatcher,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    // The answer's body is not ours to keep: read a little (to reuse the connection), drop the rest.
    await res.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
    const ok = res.statusCode >= 200 && res.statusCode < 300;
    return { ok, statusCode: res.statusCode, error: ok ? null : `HTTP ${res.statusCode}`, durationMs: performance.now() - started };
  } catch (e) {
    const err = e as Error & { code?: string; cause?: { code?: string } };
    const timedOut = err.name === 'TimeoutError' || err.name === 'AbortError' || /Timeout/.test(err.code ?? '');
    return {
      ok: false,
      statusCode: null,
      error: timedOut ? `timed out after ${options.timeoutMs} ms` : (err.code ?? err.cause?.code ?? err.message),
      durationMs: performance.now() - started,
    };
  }
}
