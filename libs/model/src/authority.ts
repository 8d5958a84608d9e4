import type { ModelArtifact } from './model-artifact';

type Side = 'click' | 'conversion';

/** What an operator requires of a model before it may decide alone (config: MODEL_MIN_PRECISION, MODEL_MAX_FALSE_POSITIVE_RATE). */
export interface ModelFloors {
  minPrecision: number;
  maxFalsePositiveRate: number;
}

/** The floors when none are configured: a model rejects honest traffic at most 1 time in 200, and is right 98 % of the time it fires. */
export const DEFAULT_MODEL_FLOORS: ModelFloors = { minPrecision: 0.98, maxFalsePositiveRate: 0.005 };

/**
 * How much a model may do on one side (DESIGN §5, "a model earns its power"). `deciding`: its
 * MODEL_RISK counts like any rule. `advisory`: it may hold a conversion or flag a click for review,
 * never reject or invalidate on its own.
 */
export interface ModelAuthority {
  authority: 'deciding' | 'advisory';
  /** Why, in words a publisher or an advertiser reads in MODEL_RISK's evidence. */
  basis: string;
}

const pct = (x: number) => `${(Math.round(x * 10_000) / 100).toString()} %`;

/**
 * Decides a model's authority on one side from its card: only a model trained on the operator's own
 * labels, whose held-out precision and false-positive rate (the model alone at its threshold, as
 * `train` measured them) meet the floors. A model trained on the simulator, or whose card lacks the
 * figures (older models), is advisory.
 */
export function authorityOf(artifact: ModelArtifact, side: Side, floors: ModelFloors): ModelAuthority {
  const card = artifact.card;
  const forest = card.forests?.[side];
  const origin = forest?.source === 'kept' ? forest.origin : card.origin;
  if (origin !== 'operator') {
    return {
      authority: 'advisory',
      basis: `trained on ${origin === 'simulator' ? 'simulated' : 'other'} traffic, not this network's labels`,
    };
  }
  const held = card.heldOut?.[side];
  if (!held || held.precision === null || held.falsePositiveRate === null) {
    return { authority: 'advisory', basis: 'no held-out precision and false-positive rate for this side' };
  }
  const figures = `held-out precision ${pct(held.precision)}, false-positive rate ${pct(held.falsePositiveRate)}`;
  if (held.precision < floors.minPrecision || held.falsePositiveRate > floors.maxFalsePositiveRate) {
    return {
      authority: 'advisory',
      basis: `${figures}: below the required ${pct(floors.minPrecision)} precision / ${pct(floors.maxFalsePositiveRate)} false-positive rate`,
    };
  }
  return { authority: 'deciding', basis: `trained on this network's labels; ${figures}` };
}
