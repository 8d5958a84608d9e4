import { keepFrom } from './stream-trimmer';

describe('keepFrom: the first stream sequence a durable may still need', () => {
  const floor = (stream_seq: number) => ({ consumer_seq: 0, stream_seq, last_active: 0 });

  it.each([
    // [what, pending, unacknowledged, ack floor, stream last seq, expected]
    ['idle: everything up to the last message was delivered and acknowledged (or is not its subject)', 0, 0, 40, 100, 101],
    ['idle filtered durable whose last message is far back: the others are not its own', 0, 0, 3, 100, 101],
    ['messages not yet delivered: after its ack floor', 7, 0, 40, 100, 41],
    ['delivered and not acknowledged (or nak-ed): after its ack floor', 0, 2, 40, 100, 41],
    ['never acknowledged anything: from the start', 5, 0, 0, 100, 1],
  ])('%s', (_, num_pending, num_ack_pending, ackFloor, lastSeq, expected) => {
    expect(keepFrom({ num_pending, num_ack_pending, ack_floor: floor(ackFloor) }, lastSeq)).toBe(expected);
  });
});
