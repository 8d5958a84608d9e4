import { Type } from '@sinclair/typebox';
import type { Evidence } from '@app/contracts';
import { Rule } from './rule';

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
  /** The most important features of the model with this event's values, for the evidence (written only when the rule fires). */
  drivers(): string;
}

export interface ModelRiskParams {
  /** Overrides the model's threshold when set. */
  threshold?: number;
}

/** The model's fraud probability is above the threshold. */
export const modelRiskRule: Rule<ModelFacts, ModelRiskParams> = {
  code: 'MODEL_RISK',
  on: 'click',
  params: Type.Object({ threshold: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })) }, { additionalProperties: false }),
  defaults: {},
  evaluate: (m, p): Evidence | null => {
    const threshold = p.threshold ?? m.threshold;
    return m.probability >= threshold
      ? { probability: m.probability, threshold, model: m.version, authority: m.authority, basis: m.basis, drivers: m.drivers() }
      : null;
  },
};
