import { Decision, FeedbackEvent } from '@app/contracts';
import { DEFAULT_RULESET, resolveRuleSet } from '@app/rules';
import { aCatalog, aClick, aConversion, at } from '@app/testing';
import { ScoringEngine } from './scoring-engine';

const catalog = aCatalog();
const HOUR = 3600_000;

/** A conversion held for a country mismatch (medium severity). */
function held(sut: ScoringEngine, ip = '8.8.8.8'): Decision {
  const click = aClick({ ip, ipCountry: 'US' });
  sut.scoreClick(click, catalog, Date.parse(click.receivedAt));
  const c = aConversion(click, { ipCountry: 'GB', ip: '81.2.69.142' });
  return sut.scoreConversion(c, catalog, null, Date.parse(c.receivedAt));
}

let feedbackIds = 0;
/** A feedback event on the decision's conversion: each one a new event (its own id). */
const feedback = (d: Decision, overrides: Partial<FeedbackEvent>): FeedbackEvent => ({
  kind: 'feedback',
  id: `fb-${d.conversionId}-${++feedbackIds}`,
  ts: at(2 * HOUR),
  receivedAt: at(2 * HOUR),
  partition: 0,
  conversionId: d.conversionId,
  status: 'rejected',
  source: 'advertiser',
  ...overrides,
});

describe('holds', () => {
  it('puts a medium-risk conversion on hold until holdHours after the decision', () => {
    const sut = held(new ScoringEngine(DEFAULT_RULESET));
    expect(sut).toMatchObject({ status: 'hold', revision: 0, resolvedBy: 'engine', previousStatus: null });
    expect(Date.parse(sut.holdUntil!) - Date.parse(sut.decidedAt)).toBe(24 * HOUR);
  });

  it('approves a hold at expiry when no new evidence arrived', () => {
    const engine = new ScoringEngine(DEFAULT_RULESET);
    const first = held(engine);
    expect(engine.expireHolds(Date.parse(first.holdUntil!) - 1)).toEqual([]);
    const [sut] = engine.expireHolds(Date.parse(first.holdUntil!));
    expect(sut).toMatchObject({
      conversionId: first.conversionId,
      status: 'approved',
      previousStatus: 'hold',
      revision: 1,
      resolvedBy: 'timer',
      holdUntil: null,
    });
    expect(sut.reasons).toEqual(first.reasons);
    expect(engine.expireHolds(Date.parse(first.holdUntil!) + HOUR)).toEqual([]); // resolved once
  });

  it('rejects a hold at expiry when the publisher turns out to be spamming clicks', () => {
    const engine = new ScoringEngine(resolveRuleSet({ version: 't', policy: { holdHours: 48 } }));
    const first = held(engine, '8.8.1.1');
    // Afterwards the publisher's conversions arrive long after their clicks: a click-spam pattern.
    for (let i = 0; i < 60; i++) {
      const c = aClick({ ip: `9.9.${i}.1`, ts: at(HOUR + i) });
      engine.scoreClick(c, catalog, Date.parse(c.receivedAt));
      const conversion = aConversion(c, { ts: at(30 * HOUR + i) });
      engine.scoreConversion(conversion, catalog, null, Date.parse(conversion.receivedAt));
    }
    const [sut] = engine.expireHolds(Date.parse(first.holdUntil!));
    expect(sut.status).toBe('rejected');
    expect(sut.resolvedBy).toBe('timer');
    expect(sut.reasons.map((r) => r.code)).toEqual(['GEO_MISMATCH', 'CLICK_SPAM_PATTERN']);
  });

  it('rejects a hold at expiry when the anomaly that caused it persists, approves it when it washed out', () => {
    // An incentivised sub-id: far above the conversion-rate band.
    const engine = new ScoringEngine(DEFAULT_RULESET);
    const decisions: Decision[] = [];
    for (let i = 0; i < 150; i++) {
      const c = aClick({ ip: `9.8.${i}.1`, subId: 'reward-wall', ts: at(i * 1000) });
      engine.scoreClick(c, catalog, Date.parse(c.receivedAt));
      if (i % 2 === 0) {
        const conversion = aConversion(c, { ts: at(200_000 + i * 1000) });
        decisions.push(engine.scoreConversion(conversion, catalog, null, Date.parse(conversion.receivedAt)));
      }
    }
    const held = decisions.filter((d) => d.status === 'hold');
    expect(held.length).toBeGreaterThan(10);
    expect(held[0].reasons.map((r) => r.code)).toEqual(['PUBLISHER_CR_ANOMALY']);
    const resolved = engine.expireHolds(Date.parse(held.at(-1)!.holdUntil!));
    expect(new Set(resolved.map((d) => d.status))).toEqual(new Set(['rejected']));

    // The same sub-id, drowned by ordinary traffic before its holds expire: approved.
    const washed = new ScoringEngine(DEFAULT_RULESET);
    const early: Decision[] = [];
    for (let i = 0; i < 150; i++) {
      const c = aClick({ ip: `9.7.${i}.1`, subId: 'reward-wall', ts: at(i * 1000) });
      washed.scoreClick(c, catalog, Date.parse(c.receivedAt));
      if (i % 2 === 0)
        early.push(
          washed.scoreConversion(aConversion(c, { ts: at(200_000 + i * 1000) }), catalog, null, Date.parse(at(200_000 + i * 1000))),
        );
    }
    for (let i = 0; i < 4000; i++) {
      const c = aClick({ ip: `9.6.${i >> 8}.${i & 255}`, subId: 'reward-wall', ts: at(400_000 + i * 100) });
      washed.scoreClick(c, catalog, Date.parse(c.receivedAt));
    }
    const firstHold = early.find((d) => d.status === 'hold')!;
    expect(washed.expireHolds(Date.parse(firstHold.holdUntil!)).find((d) => d.conversionId === firstHold.conversionId)?.status).toBe(
      'approved',
    );
  });

  it('lets the advertiser reject or approve a hold, which then no longer expires', () => {
    const engine = new ScoringEngine(DEFAULT_RULESET);
    const a = held(engine, '8.8.2.1');
    const b = held(engine, '8.8.2.2');
    const rejected = engine.applyFeedback(feedback(a, { reason: 'chargeback' }), null, Date.parse(at(2 * HOUR)))!;
    expect(rejected).toMatchObject({
      status: 'rejected',
      resolvedBy: 'advertiser',
      revision: 1,
      previousStatus: 'hold',
      note: 'chargeback',
      score: 1,
    });
    expect(rejected.reasons.at(-1)).toMatchObject({ code: 'ADVERTISER_REJECTED', evidence: { reason: 'chargeback' } });
    const approved = engine.applyFeedback(feedback(b, { status: 'approved' }), null, Date.parse(at(2 * HOUR)))!;
    expect(approved).toMatchObject({ status: 'approved', resolvedBy: 'advertiser' });
    expect(engine.expireHolds(Date.parse(a.holdUntil!) + 1)).toEqual([]);
  });

  it("does not let an advertiser's approval overturn the engine's rejection, but lets an analyst", () => {
    const engine = new ScoringEngine(DEFAULT_RULESET);
    const click = aClick({ userAgent: 'curl/8.0' });
    engine.scoreClick(click, catalog, 0);
    const rejected = engine.scoreConversion(aConversion(click), catalog, null, 0);
    expect(rejected.status).toBe('rejected');
    expect(engine.applyFeedback(feedback(rejected, { status: 'approved' }), null, 1)).toBeNull();
    const overridden = engine.applyFeedback(
      feedback(rejected, { status: 'approved', source: 'analyst', reason: 'known partner test' }),
      null,
      2,
    )!;
    expect(overridden).toMatchObject({ status: 'approved', resolvedBy: 'analyst', previousStatus: 'rejected', revision: 1 });
    expect(overridden.reasons.at(-1)).toMatchObject({
      code: 'ANALYST_OVERRIDE',
      evidence: { status: 'approved', note: 'known partner test' },
    });
  });

  it('works from the stored decision when the engine no longer holds it, and never goes backwards', () => {
    const engine = new ScoringEngine(DEFAULT_RULESET);
    const stored: Decision = { ...held(new ScoringEngine(DEFAULT_RULESET)), revision: 3, status: 'hold' };
    const sut = engine.applyFeedback(feedback(stored, { status: 'rejected' }), stored, 5)!;
    expect(sut.revision).toBe(4);
    expect(engine.applyFeedback(feedback(stored, {}), null, 6)).toBeNull(); // already rejected now
  });

  it('never applies one feedback event twice: its redelivery makes no revision, whatever came since', () => {
    const engine = new ScoringEngine(DEFAULT_RULESET);
    const first = held(engine, '8.8.3.1');
    const rejection = feedback(first, { status: 'rejected' });
    expect(engine.applyFeedback(rejection, null, 1)).toMatchObject({ revision: 1, status: 'rejected' });
    const analyst = feedback(first, { status: 'approved', source: 'analyst' });
    expect(engine.applyFeedback(analyst, null, 2)).toMatchObject({ revision: 2, status: 'approved' });

    // Redelivered (the batch was nak'ed): the analyst's approval stands, nothing flips.
    expect(engine.applyFeedback(rejection, null, 3)).toBeNull();
    expect(engine.applyFeedback(analyst, null, 4)).toBeNull();
    expect(engine.currentDecision(first.conversionId)).toMatchObject({ revision: 2, status: 'approved' });
  });

  it('does not apply again a feedback that changed nothing when it came', () => {
    const engine = new ScoringEngine(DEFAULT_RULESET);
    const click = aClick({ userAgent: 'curl/8.0' });
    engine.scoreClick(click, catalog, 0);
    const rejected = engine.scoreConversion(aConversion(click), catalog, null, 0);
    const approval = feedback(rejected, { status: 'rejected', source: 'analyst' }); // already rejected: no change
    expect(engine.applyFeedback(approval, null, 1)).toBeNull();
    expect(engine.applyFeedback(feedback(rejected, { status: 'approved', source: 'analyst' }), null, 2)).toMatchObject({ revision: 1 });
    expect(engine.applyFeedback(approval, null, 3)).toBeNull();
  });

  it('remembers the feedback it applied up to the bound of remembered outcomes', () => {
    const engine = new ScoringEngine(DEFAULT_RULESET, { rememberOutcomes: 2 });
    const first = held(engine, '8.8.4.1');
    const events = [0, 1, 2].map(() => feedback(first, { status: 'approved', source: 'analyst' }));
    for (const e of events) engine.applyFeedback(e, null, 1);
    expect(engine.appliedFeedback(events[0])).toBe(false); // forgotten first
    expect(engine.appliedFeedback(events[1])).toBe(true);
    expect(engine.appliedFeedback(events[2])).toBe(true);
  });

  it('applies a feedback id used again on another conversion there (a feedback of its own), and once on each', () => {
    const engine = new ScoringEngine(DEFAULT_RULESET);
    const one = held(engine, '8.8.4.2');
    const other = held(engine, '8.8.4.3');
    const first = feedback(one, { id: 'fb-reused' });
    expect(engine.applyFeedback(first, null, 1)).toMatchObject({ conversionId: one.conversionId, status: 'rejected' });
    expect(engine.applyFeedback(feedback(other, { id: 'fb-reused' }), null, 2)).toMatchObject({
      conversionId: other.conversionId,
      status: 'rejected',
    });
    expect(engine.applyFeedback(first, null, 3)).toBeNull();
  });

  it('names the feedback that made a revision on it, and only on that revision', () => {
    const engine = new ScoringEngine(DEFAULT_RULESET);
    const first = held(engine, '8.8.4.4');
    const approval = feedback(first, { status: 'approved', source: 'analyst' });
    const approved = engine.applyFeedback(approval, null, 1);
    expect(approved).toMatchObject({ revision: 1, feedbackId: approval.id });
    // An analyst's rejection on top (revision 2) names its own feedback.
    const rejection = feedback(first, { status: 'rejected', source: 'analyst' });
    expect(engine.applyFeedback(rejection, null, 2)).toMatchObject({ revision: 2, feedbackId: rejection.id });
    const timer = held(engine, '8.8.4.5');
    const [expired] = engine.expireHolds(Date.parse(timer.holdUntil!));
    expect(expired).toMatchObject({ conversionId: timer.conversionId, revision: 1 });
    expect(expired).not.toHaveProperty('feedbackId');
  });

  it('takes over holds from the database after a restart', () => {
    const engine = new ScoringEngine(DEFAULT_RULESET);
    const d = held(new ScoringEngine(DEFAULT_RULESET));
    engine.trackHold(d);
    expect(engine.expireHolds(Date.parse(d.holdUntil!))).toMatchObject([{ conversionId: d.conversionId, status: 'approved' }]);
  });
});
