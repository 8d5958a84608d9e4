import { loadConfig } from '@app/config';
import { Decision, Topology } from '@app/contracts';
import { FeedbackService } from '@app/feedback';
import type { JetStreamPublisher } from '@app/messaging';
import type { OutcomeRepository, Principal, ReviewRepository } from '@app/storage';
import { uid } from '@app/testing';
import { ReviewService } from './review.service';

describe('ReviewService.decide', () => {
  const analyst = { keyId: 'key-analyst', role: 'admin', subjectId: null } as unknown as Principal;
  let decisions: Map<string, Decision>;
  let reads: string[];
  let audited: { conversionId: string; previousStatus: string; requestedStatus: string; note: string | null }[];
  let published: { subject: string; payload: { conversionId: string; status: string; reason?: string; clickId?: string } }[];
  let sut: ReviewService;

  beforeEach(() => {
    decisions = new Map();
    reads = [];
    audited = [];
    published = [];
    const outcomes = {
      findDecision: async (id: string) => {
        reads.push(id);
        return decisions.get(id) ?? null;
      },
    };
    const reviews = { record: async (a: (typeof audited)[number]) => void audited.push(a) };
    const publisher = {
      publish: async (subject: string, payload: (typeof published)[number]['payload']) => {
        published.push({ subject, payload });
        return { duplicate: false };
      },
    };
    const feedback = new FeedbackService(
      loadConfig({}),
      outcomes as unknown as OutcomeRepository,
      publisher as unknown as JetStreamPublisher,
      new Topology('unit', 1),
    );
    sut = new ReviewService(outcomes as unknown as OutcomeRepository, reviews as unknown as ReviewRepository, feedback);
  });

  function held(): Decision {
    const d = { conversionId: uid('cnv'), clickId: uid('clk'), status: 'hold', revision: 0 } as unknown as Decision;
    decisions.set(d.conversionId, d);
    return d;
  }

  it('audits each request, publishes it as feedback on the click, and reads each decision once', async () => {
    const a = held();
    const b = held();
    const results = await sut.decide(
      [
        { conversionId: a.conversionId, status: 'approved' },
        { conversionId: b.conversionId, status: 'rejected' },
      ],
      'checked by phone',
      analyst,
    );
    expect(results).toEqual([
      { conversionId: a.conversionId, result: 'accepted', previousStatus: 'hold' },
      { conversionId: b.conversionId, result: 'accepted', previousStatus: 'hold' },
    ]);
    expect(reads).toEqual([a.conversionId, b.conversionId]);
    expect(audited).toEqual([
      expect.objectContaining({
        conversionId: a.conversionId,
        previousStatus: 'hold',
        requestedStatus: 'approved',
        note: 'checked by phone',
      }),
      expect.objectContaining({
        conversionId: b.conversionId,
        previousStatus: 'hold',
        requestedStatus: 'rejected',
        note: 'checked by phone',
      }),
    ]);
    expect(published.map((p) => p.payload)).toEqual([
      expect.objectContaining({ conversionId: a.conversionId, status: 'approved', reason: 'checked by phone', clickId: a.clickId }),
      expect.objectContaining({ conversionId: b.conversionId, status: 'rejected', reason: 'checked by phone', clickId: b.clickId }),
    ]);
  });

  it('answers not_found for a conversion never decided, and audits nothing for it', async () => {
    const results = await sut.decide([{ conversionId: 'cnv-nowhere', status: 'approved' }], undefined, analyst);
    expect(results).toEqual([{ conversionId: 'cnv-nowhere', result: 'not_found' }]);
    expect(audited).toEqual([]);
    expect(published).toEqual([]);
  });
});
