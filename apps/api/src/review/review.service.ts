import { Injectable } from '@nestjs/common';
import type { Decision } from '@app/contracts';
import { FeedbackService } from '@app/feedback';
import { OutcomeRepository, Principal, ReviewRepository } from '@app/storage';

/** What came of one conversion of a review request. */
export type ReviewResult =
  | { conversionId: string; result: 'not_found' }
  | { conversionId: string; result: string; previousStatus: Decision['status']; [why: string]: unknown };

/**
 * Analysts settling conversions: each request is audited (who, when, before, asked for) and becomes
 * a feedback event, which the conversion's scorer turns into a new revision of the decision.
 */
@Injectable()
export class ReviewService {
  constructor(
    private readonly outcomes: OutcomeRepository,
    private readonly reviews: ReviewRepository,
    private readonly feedback: FeedbackService,
  ) {}

  async decide(
    decisions: readonly { conversionId: string; status: 'approved' | 'rejected' }[],
    note: string | undefined,
    analyst: Principal,
  ): Promise<ReviewResult[]> {
    const results: ReviewResult[] = [];
    for (const item of decisions) {
      const current = await this.outcomes.findDecision(item.conversionId);
      if (!current) {
        results.push({ conversionId: item.conversionId, result: 'not_found' });
        continue;
      }
      await this.reviews.record({
        actor: analyst.keyId,
        conversionId: item.conversionId,
        previousStatus: current.status,
        requestedStatus: item.status,
        note: note ?? null,
      });
      // The decision just read goes along: the feedback does not read it again.
      const r = await this.feedback.submit(
        { conversionId: item.conversionId, status: item.status, ...(note ? { reason: note } : {}) },
        analyst,
        current,
      );
      // A refusal says why (its field errors or message), not only that it was refused.
      const { status: result, ...why } = r;
      results.push({ conversionId: item.conversionId, result, previousStatus: current.status, ...(result === 'accepted' ? {} : why) });
    }
    return results;
  }
}
