import type { Decision } from '@app/contracts';
import { ScoringEngine } from '@app/decisions';
import { DEFAULT_RULESET } from '@app/rules';
import { OfflineRunner } from './offline-runner';

async function* linesOf(items: unknown[]) {
  let line = 0;
  for (const value of items) yield { line: ++line, value };
}

/**
 * Feedback in a file is applied once per conversion and id, as live (the gateway scopes a caller's
 * ids by tenant and conversion, the scorer keys them by conversion and id): an id used again on
 * another conversion is a feedback there, a line repeated on the same conversion is dropped and counted.
 */
describe('OfflineRunner: feedback ids', () => {
  const t = (minutes: number) => new Date(Date.parse('2026-11-01T00:00:00Z') + minutes * 60_000).toISOString();
  const click = (id: string, ip: string, minutes: number) => ({
    kind: 'click',
    id,
    ts: t(minutes),
    offerId: 'offer-1',
    publisherId: 'pub-1',
    ip,
    userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148',
  });
  const conversion = (id: string, clickId: string, minutes: number) => ({ kind: 'conversion', id, clickId, ts: t(minutes), amount: 20 });
  const feedback = (id: string, conversionId: string, minutes: number) => ({
    kind: 'feedback',
    id,
    conversionId,
    status: 'rejected',
    ts: t(minutes),
  });

  it('applies an id used again on another conversion there, drops a repeat on the same conversion, and counts both', async () => {
    const revisions: Decision[] = [];
    const sut = new OfflineRunner(new ScoringEngine(DEFAULT_RULESET));
    const summary = await sut.run(
      linesOf([
        click('k1', '81.2.69.11', 0),
        click('k2', '81.2.69.12', 1),
        conversion('v1', 'k1', 10),
        conversion('v2', 'k2', 11),
        feedback('fb-1', 'v1', 20),
        feedback('fb-1', 'v2', 21),
        feedback('fb-1', 'v1', 22),
      ]),
      { revision: (d) => revisions.push(d) },
    );

    expect(revisions.filter((d) => d.resolvedBy === 'advertiser').map((d) => [d.conversionId, d.status, d.feedbackId])).toEqual([
      ['v1', 'rejected', 'fb-1'],
      ['v2', 'rejected', 'fb-1'],
    ]);
    // The repeat's drop shows in the counters only: an advertiser's rejection of a rejected decision
    // makes no revision anyway (offline feedback is the advertiser's, and what it changed stays so).
    expect(summary).toMatchObject({ feedback: 3, feedbackRepeated: 1, feedbackIdsReused: 1 });
  });

  it('a feedback that came before anything was decided is not applied yet: its repeat after the decision is, as live', async () => {
    const revisions: Decision[] = [];
    const sut = new OfflineRunner(new ScoringEngine(DEFAULT_RULESET));
    const summary = await sut.run(
      linesOf([click('k1', '81.2.69.11', 0), feedback('fb-1', 'v1', 5), conversion('v1', 'k1', 10), feedback('fb-1', 'v1', 20)]),
      { revision: (d) => revisions.push(d) },
    );

    expect(revisions.filter((d) => d.resolvedBy === 'advertiser').map((d) => [d.conversionId, d.status, d.feedbackId])).toEqual([
      ['v1', 'rejected', 'fb-1'],
    ]);
    expect(summary).toMatchObject({ feedback: 2, feedbackRepeated: 0 });
  });
});
