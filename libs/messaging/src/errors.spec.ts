import { BrokerReadError, PoisonMessageError, TransientError, classifyFailure, isTransient } from './errors';
import { PublishError } from './publisher';

const pg = (code: string, message = 'database error') => Object.assign(new Error(message), { code });

describe('classifyFailure: only the message’s own faults are poison', () => {
  it.each([
    // The message itself.
    ['a message that breaks its contract', new PoisonMessageError('contract violation: ip must be a string'), true, 'message'],
    ['a value out of range (22003)', pg('22003', 'numeric field overflow'), true, 'message'],
    ['a malformed value (22P02)', pg('22P02', 'invalid input syntax for type uuid'), true, 'message'],
    ['a NOT NULL the message fails (23502)', pg('23502'), true, 'message'],
    ['a CHECK the message fails (23514)', pg('23514'), true, 'message'],
    // The database: the message is kept.
    [
      'a TimescaleDB function the licence does not offer (0A000)',
      pg('0A000', 'function "continuous_agg_invalidation_trigger" is not supported under the current "timescale" license'),
      false,
      'database',
    ],
    ['insufficient privilege (42501)', pg('42501', 'permission denied for table decisions'), false, 'database'],
    ['an undefined table (42P01)', pg('42P01', 'relation "decisions" does not exist'), false, 'database'],
    ['an undefined function (42883)', pg('42883', 'function arbiter_fn() does not exist'), false, 'database'],
    ['an undefined column (42703)', pg('42703'), false, 'database'],
    ['an object in the wrong state (55000)', pg('55000'), false, 'database'],
    ['a lock not available (55P03)', pg('55P03'), false, 'database'],
    ['a system error (58030)', pg('58030', 'could not write to file'), false, 'database'],
    ['an internal error (XX000)', pg('XX000'), false, 'database'],
    ['a disk full (53100)', pg('53100'), false, 'database'],
    ['PostgreSQL shutting down (57P01)', pg('57P01', 'terminating connection due to administrator command'), false, 'database'],
    ['a statement timeout (57014)', pg('57014'), false, 'database'],
    ['a connection failure (08006)', pg('08006'), false, 'database'],
    ['a deadlock (40P01)', pg('40P01'), false, 'database'],
    ['a failed login (28P01)', pg('28P01'), false, 'database'],
    ['a missing database (3D000)', pg('3D000'), false, 'database'],
    ['a refused connection', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }), false, 'database'],
    ['a pool that cannot connect in time', new Error('timeout exceeded when trying to connect'), false, 'database'],
    ['a database error wrapped by a repository', new Error('insert failed', { cause: pg('42501') }), false, 'database'],
    // The broker.
    [
      'a publish without an ack in time (NATS restarting)',
      new PublishError('no JetStream ack for x within 10000 ms', true),
      false,
      'broker',
    ],
    ['a publish nobody answered', new PublishError('no stream takes x (JetStream answered 503: no responders)', true), false, 'broker'],
    ['a publish the stream refused', new PublishError('maximum message size exceeded (10054)'), false, 'broker'],
    [
      'a JetStream read that failed (the late check of the notifier: maximum consumers reached)',
      new BrokerReadError('reading x back', {
        cause: Object.assign(new Error('maximum consumers limit reached'), { name: 'JetStreamApiError' }),
      }),
      false,
      'broker',
    ],
    ['a NATS request timeout', Object.assign(new Error('timeout'), { name: 'TimeoutError' }), false, 'broker'],
    // The configuration.
    ['a configuration error', Object.assign(new Error('DATABASE_URL is invalid'), { name: 'ConfigError' }), false, 'configuration'],
    // Nobody can tell: kept, blamed on the message only with evidence (the runner decides).
    ['an error nobody explains', new TypeError("Cannot read properties of undefined (reading 'x')"), false, 'unknown'],
    ['a transient error', new TransientError('not yet'), false, 'unknown'],
  ])('%s', (_, error, poison, cause) => {
    const c = classifyFailure(error);
    expect({ poison: c.poison, cause: c.cause }).toEqual({ poison, cause });
    expect(isTransient(error)).toBe(!poison);
  });

  it('names the SQLSTATE in the reason health and metrics show', () => {
    expect(classifyFailure(pg('42501')).reason).toBe('database 42501 insufficient_privilege');
    expect(classifyFailure(pg('0A000')).reason).toBe('database 0A000 feature_not_supported');
  });
});
