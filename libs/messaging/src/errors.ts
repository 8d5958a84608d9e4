/**
 * How the JetStream edge treats a failure:
 * - transient (database or broker unavailable, timeouts): nak with back-off, the message stays;
 * - anything else: the message can never succeed, it goes to the dead-letter subject (term).
 */
export class TransientError extends Error {
  readonly transient = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TransientError';
  }
}

/** A message that cannot be decoded or does not match its contract. */
export class PoisonMessageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PoisonMessageError';
  }
}

const transientNodeCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTCONN',
  'EAI_AGAIN',
  'ENETUNREACH',
]);
const transientNames = new Set([
  'TransientError',
  'TimeoutError',
  'ClosedConnectionError',
  'DrainingConnectionError',
  'ConnectionError',
  'NoRespondersError',
  'RequestError',
  'JetStreamNotEnabled',
]);
// PostgreSQL SQLSTATE classes/codes that clear up by themselves: connection exceptions (08),
// insufficient resources (53), operator intervention (57: shutdown, cannot connect now,
// statement timeout), serialization failures and deadlocks (40), lock not available (55P03).
const transientSqlState = /^(08|53|57|40)|^55P03$/;
const transientMessages =
  /Connection terminated|connection (timeout|error)|timeout exceeded when trying to connect|Client has encountered a connection error|the database system is (starting up|shutting down)|terminating connection/i;

/** True when retrying the same message later can succeed. */
export function isTransient(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const e = error as Error & { code?: unknown; transient?: unknown; cause?: unknown };
  if (e.transient === true || transientNames.has(e.name)) return true;
  if (typeof e.code === 'string' && (transientNodeCodes.has(e.code) || (e.code.length === 5 && transientSqlState.test(e.code))))
    return true;
  if (transientMessages.test(e.message)) return true;
  return e.cause !== undefined && e.cause !== error && isTransient(e.cause);
}

/** Back-off for the n-th delivery: 250 ms doubling to 30 s, with ±25 % jitter. */
export function backoffMs(deliveryCount: number, random: () => number = Math.random): number {
  const base = Math.min(30_000, 250 * 2 ** Math.max(0, deliveryCount - 1));
  return Math.round(base * (0.75 + random() * 0.5));
}
