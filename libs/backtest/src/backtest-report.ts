import type { ClickVerdict, Decision } from '@app/contracts';

type Status = Decision['status'];

/** Money a change of decisions moves: what the candidate would stop or start paying. */
export interface MoneyMoved {
  /** Payout of conversions the active rules approve and the candidate would not (held or rejected). */
  payoutWithheld: number;
  /** Payout of conversions the candidate would approve and the active rules do not. */
  payoutReleased: number;
  revenueWithheld: number;
  revenueReleased: number;
}

/** Precision and recall of one side's flags against the labels that exist. */
export interface Quality {
  labelled: number;
  truePositives: number;
  falsePositives: number;
  falseNegatives: number;
  precision: number | null;
  recall: number | null;
}

export interface DimensionChange extends MoneyMoved {
  id: string;
  changed: number;
}

export interface ChangedDecision {
  conversionId: string;
  publisherId: string | null;
  offerId: string | null;
  ts: string;
  from: Status;
  to: Status;
  payout: number;
  /** Reason codes that fire under the candidate and not under the active rules, and the other way round. */
  added: string[];
  removed: string[];
  /** Every code that decides under the candidate. */
  candidateReasons: string[];
  label: 'fraud' | 'legit' | null;
}

export interface ChangedVerdict {
  clickId: string;
  publisherId: string;
  offerId: string;
  ts: string;
  from: 'valid' | 'invalid';
  to: 'valid' | 'invalid';
  added: string[];
  removed: string[];
}

/** What a candidate rule set would have done differently, on the events of a range. */
export interface BacktestResult {
  events: { warmup: number; clicks: number; conversions: number };
  conversions: {
    active: Record<Status, number>;
    candidate: Record<Status, number>;
    changed: number;
    /** `approved→rejected` and so on, only the transitions that occur. */
    transitions: Record<string, number>;
    /** Per reason code, among changed decisions: how often it newly fires, and how often it stops firing. */
    byReason: Record<string, { added: number; removed: number }>;
    byPublisher: DimensionChange[];
    byOffer: DimensionChange[];
    money: MoneyMoved;
    /** A rejection (rejected) counts as a fraud flag; `withHolds` also counts holds. */
    quality: { active: Quality; candidate: Quality; activeWithHolds: Quality; candidateWithHolds: Quality };
    examples: ChangedDecision[];
  };
  clicks: {
    active: { valid: number; invalid: number };
    candidate: { valid: number; invalid: number };
    changed: number;
    byReason: Record<string, { added: number; removed: number }>;
    quality: { active: Quality; candidate: Quality };
    examples: ChangedVerdict[];
  };
  /** How the replayed decisions compare with what the engine recorded at the time (same status / compared). */
  recorded: { compared: number; activeSame: number; candidateSame: number };
}

const TOP = 20;

/** Accumulates the comparison event by event; memory grows with publishers and offers, not events. */
export class BacktestReport {
  private readonly r: BacktestResult;
  private readonly publishers = new Map<string, DimensionChange>();
  private readonly offers = new Map<string, DimensionChange>();
  private readonly quality = {
    active: new QualityCounter(),
    candidate: new QualityCounter(),
    activeWithHolds: new QualityCounter(),
    candidateWithHolds: new QualityCounter(),
    clickActive: new QualityCounter(),
    clickCandidate: new QualityCounter(),
  };

  constructor(private readonly maxExamples = 100) {
    const statuses = () => ({ approved: 0, hold: 0, rejected: 0 });
    this.r = {
      events: { warmup: 0, clicks: 0, conversions: 0 },
      conversions: {
        active: statuses(),
        candidate: statuses(),
        changed: 0,
        transitions: {},
        byReason: {},
        byPublisher: [],
        byOffer: [],
        money: noMoney(),
        quality: undefined as never,
        examples: [],
      },
      clicks: {
        active: { valid: 0, invalid: 0 },
        candidate: { valid: 0, invalid: 0 },
        changed: 0,
        byReason: {},
        quality: undefined as never,
        examples: [],
      },
      recorded: { compared: 0, activeSame: 0, candidateSame: 0 },
    };
  }

  warmup(): void {
    this.r.events.warmup++;
  }

  click(active: ClickVerdict, candidate: ClickVerdict, label: 'fraud' | 'legit' | null, recorded: string | null): void {
    const c = this.r.clicks;
    this.r.events.clicks++;
    c.active[active.valid ? 'valid' : 'invalid']++;
    c.candidate[candidate.valid ? 'valid' : 'invalid']++;
    this.quality.clickActive.add(!active.valid, label);
    this.quality.clickCandidate.add(!candidate.valid, label);
    this.compareRecorded(recorded, active.valid ? 'valid' : 'invalid', candidate.valid ? 'valid' : 'invalid');
    if (active.valid === candidate.valid) return;
    c.changed++;
    const { added, removed } = codeChanges(active.reasons, candidate.reasons);
    tally(c.byReason, added, removed);
    if (c.examples.length < this.maxExamples) {
      c.examples.push({
        clickId: candidate.clickId,
        publisherId: candidate.publisherId,
        offerId: candidate.offerId,
        ts: candidate.ts,
        from: active.valid ? 'valid' : 'invalid',
        to: candidate.valid ? 'valid' : 'invalid',
        added,
        removed,
      });
    }
  }

  conversion(active: Decision, candidate: Decision, label: 'fraud' | 'legit' | null, recorded: string | null): void {
    const c = this.r.conversions;
    this.r.events.conversions++;
    c.active[active.status]++;
    c.candidate[candidate.status]++;
    this.quality.active.add(active.status === 'rejected', label);
    this.quality.candidate.add(candidate.status === 'rejected', label);
    this.quality.activeWithHolds.add(active.status !== 'approved', label);
    this.quality.candidateWithHolds.add(candidate.status !== 'approved', label);
    this.compareRecorded(recorded, active.status, candidate.status);
    if (active.status === candidate.status) return;
    c.changed++;
    const key = `${active.status}→${candidate.status}`;
    c.transitions[key] = (c.transitions[key] ?? 0) + 1;
    const { added, removed } = codeChanges(active.reasons, candidate.reasons);
    tally(c.byReason, added, removed);
    const moved = moneyMoved(active, candidate);
    addMoney(c.money, moved);
    for (const [map, id] of [
      [this.publishers, candidate.publisherId ?? '(unknown)'],
      [this.offers, candidate.offerId ?? '(unknown)'],
    ] as const) {
      let row = map.get(id);
      if (!row) map.set(id, (row = { id, changed: 0, ...noMoney() }));
      row.changed++;
      addMoney(row, moved);
    }
    if (c.examples.length < this.maxExamples) {
      c.examples.push({
        conversionId: candidate.conversionId,
        publisherId: candidate.publisherId,
        offerId: candidate.offerId,
        ts: candidate.ts,
        from: active.status,
        to: candidate.status,
        payout: candidate.payout,
        added,
        removed,
        candidateReasons: candidate.reasons.filter((r) => !r.monitorOnly).map((r) => r.code),
        label,
      });
    }
  }

  result(): BacktestResult {
    const top = (m: Map<string, DimensionChange>) =>
      [...m.values()]
        .sort((a, b) => b.changed - a.changed || a.id.localeCompare(b.id))
        .slice(0, TOP)
        .map(roundMoney);
    const q = this.quality;
    return {
      ...this.r,
      conversions: {
        ...this.r.conversions,
        byPublisher: top(this.publishers),
        byOffer: top(this.offers),
        money: roundMoney(this.r.conversions.money),
        quality: {
          active: q.active.result(),
          candidate: q.candidate.result(),
          activeWithHolds: q.activeWithHolds.result(),
          candidateWithHolds: q.candidateWithHolds.result(),
        },
      },
      clicks: { ...this.r.clicks, quality: { active: q.clickActive.result(), candidate: q.clickCandidate.result() } },
    };
  }

  private compareRecorded(recorded: string | null, active: string, candidate: string): void {
    if (recorded === null) return;
    this.r.recorded.compared++;
    if (recorded === active) this.r.recorded.activeSame++;
    if (recorded === candidate) this.r.recorded.candidateSame++;
  }
}

class QualityCounter {
  private tp = 0;
  private fp = 0;
  private fn = 0;
  private labelled = 0;

  add(flagged: boolean, label: 'fraud' | 'legit' | null): void {
    if (label === null) return;
    this.labelled++;
    if (flagged && label === 'fraud') this.tp++;
    else if (flagged) this.fp++;
    else if (label === 'fraud') this.fn++;
  }

  result(): Quality {
    return {
      labelled: this.labelled,
      truePositives: this.tp,
      falsePositives: this.fp,
      falseNegatives: this.fn,
      precision: this.tp + this.fp ? round(this.tp / (this.tp + this.fp), 4) : null,
      recall: this.tp + this.fn ? round(this.tp / (this.tp + this.fn), 4) : null,
    };
  }
}

function codeChanges(
  active: readonly { code: string; monitorOnly?: boolean }[],
  candidate: readonly { code: string; monitorOnly?: boolean }[],
): { added: string[]; removed: string[] } {
  const deciding = (rs: readonly { code: string; monitorOnly?: boolean }[]) => new Set(rs.filter((r) => !r.monitorOnly).map((r) => r.code));
  const a = deciding(active);
  const c = deciding(candidate);
  return { added: [...c].filter((x) => !a.has(x)), removed: [...a].filter((x) => !c.has(x)) };
}

function tally(into: Record<string, { added: number; removed: number }>, added: string[], removed: string[]): void {
  for (const code of added) (into[code] ??= { added: 0, removed: 0 }).added++;
  for (const code of removed) (into[code] ??= { added: 0, removed: 0 }).removed++;
}

/** The network's revenue on a conversion (what the advertiser owes it), as the engine computed it. */
function revenueOf(d: Decision): number {
  return d.revenue;
}

function moneyMoved(active: Decision, candidate: Decision): MoneyMoved {
  const money = noMoney();
  const wasPaid = active.status === 'approved';
  const willBePaid = candidate.status === 'approved';
  if (wasPaid && !willBePaid) {
    money.payoutWithheld = candidate.payout;
    money.revenueWithheld = revenueOf(candidate);
  } else if (!wasPaid && willBePaid) {
    money.payoutReleased = candidate.payout;
    money.revenueReleased = revenueOf(candidate);
  }
  return money;
}

function noMoney(): MoneyMoved {
  return { payoutWithheld: 0, payoutReleased: 0, revenueWithheld: 0, revenueReleased: 0 };
}

function addMoney(into: MoneyMoved, m: MoneyMoved): void {
  into.payoutWithheld += m.payoutWithheld;
  into.payoutReleased += m.payoutReleased;
  into.revenueWithheld += m.revenueWithheld;
  into.revenueReleased += m.revenueReleased;
}

function roundMoney<T extends MoneyMoved>(m: T): T {
  return {
    ...m,
    payoutWithheld: round(m.payoutWithheld, 4),
    payoutReleased: round(m.payoutReleased, 4),
    revenueWithheld: round(m.revenueWithheld, 4),
    revenueReleased: round(m.revenueReleased, 4),
  };
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
