import { PoisonMessageError, isTransient } from './errors';
import { PublishError } from './publisher';

describe('isTransient', () => {
  it.each([
    ['a publish without an ack in time (NATS restarting)', new PublishError('no JetStream ack for x within 10000 ms', true), true],
    [
      'a publish nobody answered (a cluster electing a leader)',
      new PublishError('no stream takes x (JetStream answered 503: no responders)', true),
      true,
    ],
    ['a publish the stream refused', new PublishError('maximum message size exceeded (10054)'), false],
    ['PostgreSQL shutting down', Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }), true],
    ['a refused connection', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }), true],
    ['a poison message', new PoisonMessageError('not JSON'), false],
  ])('%s: %s', (_, error, transient) => {
    expect(isTransient(error)).toBe(transient);
  });
});
