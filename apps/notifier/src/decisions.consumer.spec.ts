import { describe, expect, it } from '@jest/globals';
import type { JsMsg } from '@nats-io/jetstream';
import { headers } from '@nats-io/nats-core';
import type { Decision } from '@app/contracts';
import { Delivery, REPUBLISHED_HEADER } from '@app/messaging';
import type { DecisionFanoutService } from './decision-fanout.service';
import { DecisionsConsumer } from './decisions.consumer';

/**
 * From when the fan-out checks a decision (`redeliveredFrom`): the `Arbiter-Republished` header is the
 * scorer's, and an unreadable or future value of it counts as no header (docs/trust.md).
 */
describe('DecisionsConsumer: from when a decision may have been published before', () => {
  const subject = 'verdicts.conversion';
  const storedAt = new Date('2026-12-05T00:00:00.000Z');
  const delivery = (o: { header?: string; count?: number }) => {
    const h = headers();
    if (o.header !== undefined) h.set(REPUBLISHED_HEADER, o.header);
    const msg = { subject, headers: h, time: storedAt, info: { deliveryCount: o.count ?? 1, streamSequence: 1 } };
    return new Delivery({ conversionId: 'c', decidedAt: storedAt.toISOString() } as Decision, msg as unknown as JsMsg);
  };
  const from = async (d: Delivery<Decision>): Promise<Date | undefined> => {
    let seen: Date | undefined | null = null;
    const fanout = {
      deliver: async (items: { redeliveredFrom?: Date }[]) => void (seen = items[0].redeliveredFrom),
    } as unknown as DecisionFanoutService;
    await new DecisionsConsumer(fanout).deliver([d]);
    return seen!;
  };

  it('a first delivery without the header is not checked', async () => {
    expect(await from(delivery({}))).toBeUndefined();
  });

  it('a republished message is checked from the time its header gives, the earlier one when also redelivered', async () => {
    expect(await from(delivery({ header: '2026-12-04T23:50:00.000Z' }))).toEqual(new Date('2026-12-04T23:50:00.000Z'));
    expect(await from(delivery({ header: '2026-12-04T23:50:00.000Z', count: 2 }))).toEqual(new Date('2026-12-04T23:50:00.000Z'));
  });

  it('an unreadable header counts as none', async () => {
    expect(await from(delivery({ header: 'yesterday-ish' }))).toBeUndefined();
    expect(await from(delivery({ header: 'yesterday-ish', count: 2 }))).toEqual(storedAt);
  });

  it('a header in the future counts as none', async () => {
    const future = new Date(Date.now() + 3_600_000).toISOString();
    expect(await from(delivery({ header: future }))).toBeUndefined();
    expect(await from(delivery({ header: future, count: 2 }))).toEqual(storedAt);
  });
});
