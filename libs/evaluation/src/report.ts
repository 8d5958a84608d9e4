import { ALL_REASON_CODES, REASON_CODES } from '@app/contracts';
import type { ClickVerdict, Decision, EventSide, Reason } from '@app/contracts';
import { Confusion, confusion, prAuc, ratio, rocAuc } from './metrics';
import { OfflineObserver, Truth } from './offline-runner';

export interface ReasonStats {
  code: string;
  /** Labelled events it fired on (enforced or monitored). */
  fired: number;
  /** Of those, how many were fraud. */
  precision: number | null;
  /** Share of all fraud events it fired on. */
  recall: number | null;
}

export interface PatternStats {
  pattern: string;
  label: string;
  events: number;
  /** Share flagged (invalid clicks; rejected conversions). */
  flagged: number | null;
}

/** How well a probability ranks fraud above legitimate traffic. */
export interface Ranking {
  rocAuc: number | null;
  prAuc: number | null;
}

export interface SideReport {
  labelled: number;
  fraud: number;
  legit: number;
  /**
   * Ranking quality of the risk score; with a model, of 1 − (1 − risk)(1 − p), the rules' and the
   * model's evidence combined (the decision itself uses the model through MODEL_RISK).
   */
  rocAuc: number | null;
  prAuc: number | null;
  /** The active model's probability alone, and a shadow candidate's (when scored). */
  model: Ranking | null;
  shadow: (Ranking & { version: string; agreement: number | null }) | null;
  reasons: ReasonStats[];
  patterns: PatternStats[];
}

export interface ClickReport extends SideReport {
  /** Invalid vs fraud. */
  invalid: Confusion;
  /** Invalid, or flagged for review by an advisory MODEL_RISK, vs fraud. */
  flagged: Confusion;
}

export interface ConversionReport extends SideReport {
  /** Rejected vs fraud, as decided at once (a hold is not a rejection). */
  atDecision: Confusion & { held: number };
  /** Held or rejected at once vs fraud: what the engine did not approve straight away. */
  heldOrRejected: Confusion;
  /** After the engine's own hold timers resolved (advertiser and analyst feedback left out). */
  engine: Confusion;
  /** After feedback too: what the network finally paid. */
  final: Confusion;
}

/**
 * How often one reason code of the catalogue fired on the traffic, labelled or not: whether every
 * rule is reachable (issue 15), not how well it does (the per-side tables say that).
 */
export interface ReasonCoverage {
  code: string;
  on: readonly EventSide[];
  /** Clicks whose verdict carried it; null for a code that is not a click reason. */
  clicks: number | null;
  /** Conversions whose decision carried it at any revision (at once, at a hold's expiry, on feedback); null for a click-only code. */
  conversions: number | null;
}

export interface EvaluationReport {
  clicks: ClickReport;
  conversions: ConversionReport;
  /** Every code of the catalogue, in catalogue order, with how often it fired (0 included). */
  reasonCodes: ReasonCoverage[];
}

interface Tracked {
  truth: Truth;
  initial: Decision;
  engine: Decision;
  final: Decision;
}

/** Collects outcomes against labels and turns them into the evaluation report. */
export class EvaluationCollector implements OfflineObserver {
  private readonly clicks: { v: ClickVerdict; truth: Truth }[] = [];
  private shadowVersion: string | null = null;
  private readonly conversions = new Map<string, Tracked>();
  /** Every event, labelled or not: clicks per code, and each conversion's codes over its revisions. */
  private readonly clickCodes = new Map<string, number>();
  private readonly conversionCodes = new Map<string, number>();
  private readonly codesOf = new Map<string, string[]>();

  verdict(v: ClickVerdict, truth: Truth): void {
    if (truth.label) this.clicks.push({ v, truth });
    this.shadowVersion ??= v.shadowModelVersion;
    for (const code of new Set(v.reasons.map((r) => r.code))) this.clickCodes.set(code, (this.clickCodes.get(code) ?? 0) + 1);
  }

  decision(d: Decision, truth: Truth): void {
    if (truth.label) this.conversions.set(d.conversionId, { truth, initial: d, engine: d, final: d });
    this.countConversionCodes(d);
  }

  revision(d: Decision): void {
    this.countConversionCodes(d);
    const t = this.conversions.get(d.conversionId);
    if (!t || d.revision <= t.final.revision) return;
    t.final = d;
    // The engine's own outcome stops changing at the first human decision.
    if ((d.resolvedBy === 'timer' || d.resolvedBy === 'engine') && t.engine.revision === d.revision - 1) t.engine = d;
  }

  /** Counts the codes this revision of a decision carries that its earlier ones did not. */
  private countConversionCodes(d: Decision): void {
    const seen = this.codesOf.get(d.conversionId) ?? [];
    for (const { code } of d.reasons) {
      if (seen.includes(code)) continue;
      seen.push(code);
      this.conversionCodes.set(code, (this.conversionCodes.get(code) ?? 0) + 1);
    }
    this.codesOf.set(d.conversionId, seen);
  }

  report(): EvaluationReport {
    const clicks = this.clicks.map(({ v, truth }) => ({
      fraud: truth.label === 'fraud',
      pattern: truth.pattern,
      score: combine(v.score, v.modelScore),
      modelScore: v.modelScore,
      shadowScore: v.shadowScore,
      flagged: !v.valid,
      reasons: v.reasons,
    }));
    const conversions = [...this.conversions.values()].map((t) => ({
      fraud: t.truth.label === 'fraud',
      pattern: t.truth.pattern,
      score: combine(t.initial.score, t.initial.modelScore),
      modelScore: t.initial.modelScore,
      shadowScore: t.initial.shadowScore,
      initial: t.initial.status,
      engine: t.engine.status,
      final: t.final.status,
      reasons: t.engine.reasons,
    }));
    const atDecision = confusion(conversions.map((c) => ({ flagged: c.initial === 'rejected', fraud: c.fraud })));
    return {
      clicks: {
        ...side(clicks, this.shadowVersion),
        invalid: confusion(clicks),
        flagged: confusion(
          clicks.map((c) => ({ fraud: c.fraud, flagged: c.flagged || c.reasons.some((r) => r.code === 'MODEL_RISK' && !r.monitorOnly) })),
        ),
      },
      conversions: {
        ...side(
          conversions.map((c) => ({ ...c, flagged: c.engine === 'rejected' })),
          this.shadowVersion,
        ),
        atDecision: { ...atDecision, held: conversions.filter((c) => c.initial === 'hold').length },
        heldOrRejected: confusion(conversions.map((c) => ({ flagged: c.initial !== 'approved', fraud: c.fraud }))),
        engine: confusion(conversions.map((c) => ({ flagged: c.engine === 'rejected', fraud: c.fraud }))),
        final: confusion(conversions.map((c) => ({ flagged: c.final === 'rejected', fraud: c.fraud }))),
      },
      reasonCodes: ALL_REASON_CODES.map((code) => {
        const on = REASON_CODES[code].on;
        return {
          code,
          on,
          clicks: on.includes('click') ? (this.clickCodes.get(code) ?? 0) : null,
          conversions: on.includes('conversion') ? (this.conversionCodes.get(code) ?? 0) : null,
        };
      }),
    };
  }
}

function combine(risk: number, p: number | null): number {
  return p === null ? risk : 1 - (1 - risk) * (1 - p);
}

type Item = {
  fraud: boolean;
  pattern?: string;
  score: number;
  modelScore: number | null;
  shadowScore: number | null;
  flagged: boolean;
  reasons: Reason[];
};

function ranking(items: Item[], pick: (i: Item) => number | null): Ranking | null {
  const scored = items.filter((i) => pick(i) !== null).map((i) => ({ score: pick(i)!, fraud: i.fraud }));
  return scored.length ? { rocAuc: rocAuc(scored), prAuc: prAuc(scored) } : null;
}

function side(items: Item[], shadowVersion: string | null): SideReport {
  const fraud = items.filter((i) => i.fraud).length;
  const byCode = new Map<string, { fired: number; fraud: number }>();
  for (const i of items) {
    for (const code of new Set(i.reasons.map((r) => r.code))) {
      const s = byCode.get(code) ?? { fired: 0, fraud: 0 };
      s.fired++;
      if (i.fraud) s.fraud++;
      byCode.set(code, s);
    }
  }
  const byPattern = new Map<string, { label: string; events: number; flagged: number }>();
  for (const i of items) {
    const key = i.pattern ?? '(none)';
    const s = byPattern.get(key) ?? { label: i.fraud ? 'fraud' : 'legit', events: 0, flagged: 0 };
    s.events++;
    if (i.flagged) s.flagged++;
    byPattern.set(key, s);
  }
  return {
    labelled: items.length,
    fraud,
    legit: items.length - fraud,
    rocAuc: rocAuc(items),
    prAuc: prAuc(items),
    model: ranking(items, (i) => i.modelScore),
    shadow: shadowVersion
      ? {
          ...ranking(items, (i) => i.shadowScore)!,
          version: shadowVersion,
          // How often the two would fall on the same side of 0.5.
          agreement: ratio(
            items.filter((i) => i.modelScore !== null && i.shadowScore !== null && i.modelScore >= 0.5 === i.shadowScore >= 0.5).length,
            items.length,
          ),
        }
      : null,
    reasons: [...byCode]
      .map(([code, s]) => ({ code, fired: s.fired, precision: ratio(s.fraud, s.fired), recall: ratio(s.fraud, fraud) }))
      .sort((a, b) => b.fired - a.fired),
    patterns: [...byPattern]
      .map(([pattern, s]) => ({ pattern, label: s.label, events: s.events, flagged: ratio(s.flagged, s.events) }))
      .sort((a, b) => a.pattern.localeCompare(b.pattern)),
  };
}
