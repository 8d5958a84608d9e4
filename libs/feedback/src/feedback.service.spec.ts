import { loadConfig } from '@app/config';
import { Decision, FeedbackEvent, Topology } from '@app/contracts';
import type { JetStreamPublisher } from '@app/messaging';
import type { OutcomeRepository, Principal } from '@app/storage';
import { uid } from '@app/testing';
import { FeedbackService } from './feedback.service';

/**
 * A caller's own feedback id is its idempotency key: per tenant and per conversion. The same id sent
 * again on the same conversion is the same feedback (JetStream drops the copy within its window, the
 * scorer applies it once); on another conversion it is a feedback of its own, never silenced.
 */
describe('FeedbackService: the stored id of a feedback', () => {
  const topology = new Topology('unit', 1);
  let published: { subject: string; event: FeedbackEvent; msgId: string }[];
  let sut: FeedbackService;
  const advertiser = (id: string): Principal => ({
    keyId: `key-${id}`,
    role: 'advertiser',
    subjectId: id,
    scope: {} as Principal['scope'],
  });

  beforeEach(() => {
    published = [];
    const seen = new Set<string>();
    const publisher = {
      publish: async (subject: string, event: FeedbackEvent, msgId: string) => {
        published.push({ subject, event, msgId });
        const duplicate = seen.has(msgId);
        seen.add(msgId);
        return { duplicate };
      },
    };
    const decided = async (conversionId: string) => ({ conversionId, clickId: `click-of-${conversionId}` }) as Decision;
    const outcomes = { findDecision: decided, findAdvertiserDecision: decided };
    sut = new FeedbackService(
      loadConfig({}),
      outcomes as unknown as OutcomeRepository,
      publisher as unknown as JetStreamPublisher,
      topology,
    );
  });

  it('is the same for the same id on the same conversion, and another on another conversion or for another tenant', async () => {
    const [one, two] = [uid('conv'), uid('conv')];
    const send = (who: string, conversionId: string) => sut.submit({ id: 'fb-1', conversionId, status: 'rejected' }, advertiser(who));

    const first = await send('adv-a', one);
    const again = await send('adv-a', one);
    const otherConversion = await send('adv-a', two);
    const otherTenant = await send('adv-b', one);

    expect(again).toEqual({ ...first, duplicate: true });
    expect(otherConversion).toMatchObject({ status: 'accepted', duplicate: false });
    expect(otherTenant).toMatchObject({ status: 'accepted', duplicate: false });
    const ids = [first, otherConversion, otherTenant].map((r) => (r as { id: string }).id);
    expect(new Set(ids).size).toBe(3);
    expect(published.map((p) => p.event.conversionId)).toEqual([one, one, two, one]);
  });

  it('keeps an id it minted (none given) as it is', async () => {
    const result = await sut.submit({ conversionId: uid('conv'), status: 'approved' }, advertiser('adv-a'));
    expect(result).toMatchObject({ status: 'accepted', id: published[0].event.id });
    expect(published[0].msgId).toBe(`feedback:${published[0].event.id}`);
  });
});
