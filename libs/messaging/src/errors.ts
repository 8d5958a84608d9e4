/**
 * How the JetStream edge treats a failure (DESIGN §9): only a message that can never be processed
 * (it breaks its contract, or its own values are refused) is poison and dead-lettered. Anything
 * the message did not cause — the database, the broker, the engine's configuration, a bug — keeps
 * the message (nak with back-off) and is reported until the cause is gone. This file is the one
 * place that decides which is which.
 */
export class TransientError extends Error {
  readonly transient = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TransientError';
  }
}

/**
 * A JetStream read (stream info, a message lookup, an ordered consumer) that failed or could not
 * finish: the broker's fault, never the message's, so the message is kept and retried. nats.js
 * throws many classes here (JetStreamApiError, JetStreamStatusError, heartbeats missed...) that
 * would otherwise count as unexplained and, beside batch-mates that succeed, be dead-lettered.
 */
export class BrokerReadError extends Error {
  override readonly name = 'BrokerReadError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A message that cannot be decoded or does not match its contract. */
export class PoisonMessageError extends Error {
  readonly poison = true;
  constructor(message: string) {
    super(message);
    this.name = 'PoisonMessageError';
  }
}

/** What a failure is blamed on: the message itself, or something the message did not cause. */
export type FailureCause = 'message' | 'database' | 'broker' | 'configuration' | 'unknown';

export interface FailureClass {
  /** True only when the message itself can never be processed: it is dead-lettered. */
  poison: boolean;
  cause: FailureCause;
  /** Short, stable description for health, metrics and logs (e.g. `database 42501 insufficient_privilege`). */
  reason: string;
}

const brokerNodeCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTCONN',
  'EAI_AGAIN',
  'ENETUNREACH',
]);
const brokerNames = new Set([
  'TimeoutError',
  'ClosedConnectionError',
  'DrainingConnectionError',
  'ConnectionError',
  'NoRespondersError',
  'RequestError',
  'JetStreamNotEnabled',
  'PublishError',
  'BrokerReadError',
]);
const connectionMessages =
  /Connection terminated|connection (timeout|error)|timeout exceeded when trying to connect|Client has encountered a connection error|the database system is (starting up|shutting down)|terminating connection|Cannot use a pool after calling end/i;

/**
 * SQLSTATE classes the message causes: its values are out of range or malformed (22) or break a
 * constraint (23: a duplicate key the repositories do not absorb, a NOT NULL or CHECK the
 * message's values fail). Every other class is the database's or the engine's doing:
 * 08 connection, 0A feature not supported (e.g. a TimescaleDB function the loaded licence does not
 * offer), 25/2D transaction state, 28 authorization, 3D missing database, 40 serialization and
 * deadlocks, 42 undefined table/column/function and insufficient privilege (42501), 53 resources,
 * 54 limits, 55 object state (locks), 57 operator intervention (shutdown, statement timeout),
 * 58 system errors, F0 configuration, XX internal errors.
 */
const messageSqlStates = /^(22|23)/;
const sqlStateNames: Record<string, string> = {
  '08': 'connection_exception',
  '0A000': 'feature_not_supported',
  '28': 'invalid_authorization',
  '3D000': 'invalid_catalog_name',
  '40': 'transaction_rollback',
  '42501': 'insufficient_privilege',
  '42P01': 'undefined_table',
  '42883': 'undefined_function',
  '42703': 'undefined_column',
  '53': 'insufficient_resources',
  '55': 'object_not_in_prerequisite_state',
  '57': 'operator_intervention',
  '58': 'system_error',
  F0: 'config_file_error',
  XX: 'internal_error',
};

function sqlStateName(code: string): string {
  return sqlStateNames[code] ?? sqlStateNames[code.slice(0, 2)] ?? `class ${code.slice(0, 2)}`;
}

/** True for a PostgreSQL SQLSTATE: five characters of digits and upper-case letters. */
function isSqlState(code: unknown): code is string {
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code);
}

/** Decides whether a failure is the message's fault (poison) and what caused it otherwise. */
export function classifyFailure(error: unknown): FailureClass {
  const seen = new Set<unknown>();
  for (let e: unknown = error; e instanceof Error && !seen.has(e); e = (e as { cause?: unknown }).cause) {
    seen.add(e);
    const x = e as Error & { code?: unknown; transient?: unknown; poison?: unknown };
    if (x.poison === true || x.name === 'PoisonMessageError')
      return { poison: true, cause: 'message', reason: `contract: ${oneLine(x.message, 200)}` };
    if (isSqlState(x.code)) {
      if (messageSqlStates.test(x.code)) return { poison: true, cause: 'message', reason: `database ${x.code} (the message's values)` };
      return { poison: false, cause: 'database', reason: `database ${x.code} ${sqlStateName(x.code)}` };
    }
    if (typeof x.code === 'string' && brokerNodeCodes.has(x.code))
      return { poison: false, cause: 'database', reason: `connection ${x.code}` };
    if (x.name === 'ConfigError') return { poison: false, cause: 'configuration', reason: 'configuration' };
    if (brokerNames.has(x.name)) return { poison: false, cause: 'broker', reason: `broker ${x.name}` };
    if (connectionMessages.test(x.message)) return { poison: false, cause: 'database', reason: 'database connection' };
    if (x.transient === true) return { poison: false, cause: 'unknown', reason: oneLine(x.message, 120) };
  }
  // Not proven to be the message's fault (a bug, an unexpected library error): keep the message
  // and say so loudly; a dead letter would hide the problem and lose the work.
  const e = error as Error | undefined;
  return { poison: false, cause: 'unknown', reason: `${e?.name ?? 'error'}: ${oneLine(String(e?.message ?? error), 120)}` };
}

/** True when retrying the same message later can succeed (the failure is not the message's fault). */
export function isTransient(error: unknown): boolean {
  return !classifyFailure(error).poison;
}

/** Back-off for the n-th delivery: 250 ms doubling to 30 s, with ±25 % jitter. */
export function backoffMs(deliveryCount: number, random: () => number = Math.random): number {
  const base = Math.min(30_000, 250 * 2 ** Math.max(0, deliveryCount - 1));
  return Math.round(base * (0.75 + random() * 0.5));
}

function oneLine(s: string, max: number): string {
  return s.replace(/[\r\n]+/g, ' ').slice(0, max);
}
