import type { JsMsg } from '@nats-io/jetstream';
import { Delivery, redelivered } from './delivery';

/** The redelivery test every message of the scorer goes through: it must agree with the client's own parse of the ack subject. */
describe('redelivered (from the ack subject, without parsing all of it)', () => {
  const subjects = (count: number) => [
    `$JS.ACK.EVENTS.scorer-p0.${count}.1234.987.1764690000000000000.5`,
    `$JS.ACK._.ACCHASH.tEVENTS.scorer-p0.${count}.1234.987.1764690000000000000.5`,
    `$JS.ACK.hub.ACCHASH.EVENTS.scorer-p0.${count}.1234.987.1764690000000000000.0.Xy12ab`,
  ];
  const msg = (reply: string, deliveryCount: number) => ({ reply, info: { deliveryCount } }) as unknown as JsMsg;

  it.each([1, 2, 9, 10, 11, 19, 100, 1000])('says %s > 1 as the delivery count does', (count) => {
    for (const reply of subjects(count)) expect(redelivered(msg(reply, NaN))).toBe(count > 1);
  });

  it('asks the parsed delivery info when there is no ack subject or one of another shape', () => {
    expect(redelivered(msg('', 3))).toBe(true);
    expect(redelivered(msg('', 1))).toBe(false);
    expect(redelivered(msg('$JS.ACK.odd', 2))).toBe(true);
  });

  it('is what a delivery answers', () => {
    expect(new Delivery({}, msg(subjects(2)[1], NaN)).redelivered).toBe(true);
    expect(new Delivery({}, msg(subjects(1)[1], NaN)).redelivered).toBe(false);
  });
});
