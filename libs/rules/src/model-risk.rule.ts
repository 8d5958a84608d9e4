import { Type } from '@sinclair/typebox';
import { modelRiskDrivers } from '@app/contracts';
import type { Evidence, EvidenceRow } from '@app/contracts';
import { Rule } from './rule';

/** One feature's part in the model's probability for this event (path contributions through the trees). */
export interface ModelContribution {
  feature: string;
  /** The event's value (null: unknown). */
  value: number | null;
  /** The median among legitimate training rows (null: unknown there). */
  typicalLegit: number | null;
  contribution: number;
}

/** What the model said about an event, for MODEL_RISK. */
export interface ModelFacts {
  probability: number;
  /** The model's own threshold (chosen on held-out data when it was trained). */
  threshold: number;
  version: string;
  /** `deciding`: counts like any rule; `advisory`: may hold or flag for review, never reject alone. */
  authority: 'deciding' | 'advisory';
  /** Why that authority (the card's held-out figures against the operator's floors, or where it was trained). */
  basis: string;
  /**
   * This event's own explanation: the forest's prior and the largest feature contributions (called
   * only when the rule fires: it costs a walk of every tree). Null when the model version carries no
   * node statistics (trained before per-event explanations).
   */
  explain(): { bias: number; contributions: readonly ModelContribution[] } | null;
  /** The model's overall most important features: named instead when it cannot explain the event. */
  globalDrivers: readonly string[];
}

export interface ModelRiskParams {
  /** Overrides the model's threshold when set. */
  threshold?: number;
}

const round3 = (v: number | null) => (v === null ? null : Math.round(v * 1e3) / 1e3);
const round4 = (v: number) => Math.round(v * 1e4) / 1e4;

/** The model's fraud probability is above the threshold. */
export const modelRiskRule: Rule<ModelFacts, ModelRiskParams> = {
  code: 'MODEL_RISK',
  on: 'click',
  params: Type.Object({ threshold: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })) }, { additionalProperties: false }),
  defaults: {},
  evaluate: (m, p): Evidence | null => {
    const threshold = p.threshold ?? m.threshold;
    if (m.probability < threshold) return null;
    // Literals rather than `{ ...about, … }`: on Node 20 each key a literal adds after a spread is a
    // runtime call; the keys and their order are the same.
    const explained = m.explain();
    if (!explained)
      return {
        probability: m.probability,
        threshold,
        model: m.version,
        authority: m.authority,
        basis: m.basis,
        explanation: 'none',
        drivers: m.globalDrivers.join(', '),
      };
    // Runs on every event MODEL_RISK fires on: plain loops, each number formatted once.
    const contributions: EvidenceRow[] = [];
    for (const c of explained.contributions)
      contributions.push({
        feature: c.feature,
        value: round3(c.value),
        typicalLegit: round3(c.typicalLegit),
        contribution: round4(c.contribution),
      });
    const drivers = modelRiskDrivers(contributions);
    return {
      probability: m.probability,
      threshold,
      model: m.version,
      authority: m.authority,
      basis: m.basis,
      explanation: 'per-event',
      bias: round4(explained.bias),
      contributions,
      drivers,
    };
  },
};
