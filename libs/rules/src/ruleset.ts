import { Static, TObject, TSchema, Type } from '@sinclair/typebox';
import { REASON_CODES, ReasonCode, Severity, StringEnum, compiled } from '@app/contracts';
import { CidrError } from '@app/features';
import { CLICK_RULES, CONVERSION_RULES } from './registry';
import { EnforcementBlock, EnforcementPolicy } from './enforcement';
import { CompiledLists, ListsInput } from './lists';
import { modelRiskRule } from './model-risk.rule';
import { Mode, Rule } from './rule';

const ModeSchema = StringEnum(['enforce', 'monitor', 'off'] as const);
const SeveritySchema = StringEnum(['low', 'medium', 'high', 'critical'] as const);
const Probability = Type.Number({ minimum: 0, maximum: 1 });

/** How reasons become a risk score and the score an outcome. */
export const PolicySettings = Type.Object(
  {
    /** Conversion risk from which the decision is `hold`. */
    holdThreshold: Probability,
    /** Conversion risk from which the decision is `rejected`. */
    rejectThreshold: Probability,
    /** Click risk from which the click is invalid. */
    clickInvalidThreshold: Probability,
    /** Risk each enforced reason adds, by severity; combined as 1 − Π(1 − w). `critical` rejects on its own. */
    weights: Type.Object({ low: Probability, medium: Probability, high: Probability }, { additionalProperties: false }),
    /** A hold resolves by itself after this long: approved, unless new evidence arrived meanwhile (or it waited for a person: `mustBeConfirmed`). */
    holdHours: Type.Number({ minimum: 1 / 3600, maximum: 24 * 90 }),
  },
  { additionalProperties: false },
);
export type PolicySettings = Static<typeof PolicySettings>;

// Calibrated so that one high-severity reason rejects, one medium holds, low ones need company.
export const DEFAULT_POLICY: PolicySettings = {
  holdThreshold: 0.35,
  rejectThreshold: 0.7,
  clickInvalidThreshold: 0.5,
  weights: { low: 0.15, medium: 0.4, high: 0.75 },
  holdHours: 24,
};

const allRules: readonly Rule<unknown, object>[] = [...CLICK_RULES, ...CONVERSION_RULES, modelRiskRule as Rule<unknown, object>];
const codes = [...new Set(allRules.map((r) => r.code))];

function ruleOverrideSchema(code: ReasonCode): TSchema {
  const params = allRules.filter((r) => r.code === code).map((r) => r.params);
  const merged: TObject = Type.Object(Object.assign({}, ...params.map((p) => p.properties)));
  return Type.Object(
    {
      mode: Type.Optional(ModeSchema),
      severity: Type.Optional(SeveritySchema),
      ...Object.fromEntries(Object.entries(merged.properties).map(([k, v]) => [k, Type.Optional(v)])),
    },
    { additionalProperties: false },
  );
}

/**
 * What the tracking link does with a click its click-time checks find invalid (DESIGN §12):
 * `score` (default) redirects it to the offer like any other and lets the scorer judge it;
 * `fallback` sends it to `fallbackUrl` (the network's page, never the advertiser's).
 */
export const ClickBlockingSettings = Type.Object(
  {
    mode: Type.Optional(StringEnum(['score', 'fallback'] as const)),
    fallbackUrl: Type.Optional(Type.String({ pattern: '^https?://', maxLength: 2048 })),
  },
  { additionalProperties: false },
);

/** The effective click blocking of a rule set. */
export interface ClickBlocking {
  mode: 'score' | 'fallback';
  /** Null: the gateway's TRACKING_FALLBACK_URL. */
  fallbackUrl: string | null;
}

/** One layer of a rule set (network, advertiser or offer), as an operator writes it: all optional. */
export const RuleSetLayer = Type.Object(
  {
    description: Type.Optional(Type.String({ maxLength: 1000 })),
    policy: Type.Optional(Type.Partial(PolicySettings)),
    rules: Type.Optional(
      Type.Object(Object.fromEntries(codes.map((c) => [c, Type.Optional(ruleOverrideSchema(c))])), { additionalProperties: false }),
    ),
    lists: Type.Optional(ListsInput),
    clickBlocking: Type.Optional(ClickBlockingSettings),
    /** Automatic enforcement policies: blocks for publishers / sub-ids whose traffic is too often invalid or rejected. */
    enforcement: Type.Optional(Type.Array(EnforcementPolicy, { maxItems: 50 })),
  },
  { additionalProperties: false },
);
export type RuleSetLayer = Static<typeof RuleSetLayer>;

/** A standalone rule set: one layer with a version name (tests, files, `evaluate --ruleset`). */
export const RuleSetInput = Type.Composite([Type.Object({ version: Type.String({ minLength: 1, maxLength: 64 }) }), RuleSetLayer], {
  additionalProperties: false,
});
export type RuleSetInput = Static<typeof RuleSetInput>;

/** One rule with its effective mode, severity and parameters. */
export interface ResolvedRule {
  mode: Mode;
  severity: Severity;
  params: Record<string, unknown>;
}

/** A rule set with every default applied and its lists compiled: what the engine runs. */
export interface RuleSet {
  version: string;
  policy: PolicySettings;
  rules: Record<ReasonCode, ResolvedRule>;
  lists: CompiledLists;
  clickBlocking: ClickBlocking;
}

export class RuleSetError extends Error {
  constructor(readonly errors: { field: string; message: string }[]) {
    super(`invalid rule set: ${errors.map((e) => `${e.field || '(root)'} ${e.message}`).join('; ')}`);
    this.name = 'RuleSetError';
  }
}

/** Checks one layer; throws RuleSetError with field-level errors. */
export function validateLayer(input: unknown, field = ''): RuleSetLayer {
  const checked = compiled(RuleSetLayer).check(input);
  if (!checked.ok) throw new RuleSetError(checked.errors.map((e) => ({ ...e, field: join(field, e.field) })));
  const layer = checked.value;
  const hold = layer.policy?.holdThreshold;
  const reject = layer.policy?.rejectThreshold;
  if (hold !== undefined && reject !== undefined && hold > reject) {
    throw new RuleSetError([{ field: join(field, 'policy.holdThreshold'), message: 'must not exceed rejectThreshold' }]);
  }
  const ids = new Set<string>();
  for (const [i, p] of (layer.enforcement ?? []).entries()) {
    if (ids.has(p.id))
      throw new RuleSetError([{ field: join(field, `enforcement.${i}.id`), message: `"${p.id}" is used twice in this layer` }]);
    ids.add(p.id);
  }
  try {
    new CompiledLists([layer.lists]);
  } catch (e) {
    if (e instanceof CidrError) throw new RuleSetError([{ field: join(field, 'lists'), message: e.message }]);
    throw e;
  }
  return layer;
}

/**
 * Layers apply in order (network, advertiser, offer); later ones override, lists add up. `blocks`:
 * the enforcement blocks that apply (network-wide ones and the offer's).
 */
export function combineLayers(
  version: string,
  layers: readonly (RuleSetLayer | undefined)[],
  blocks: readonly EnforcementBlock[] = [],
): RuleSet {
  const present = layers.filter((l): l is RuleSetLayer => !!l);
  const resolved = {} as Record<ReasonCode, ResolvedRule>;
  for (const code of codes) {
    const defaults = Object.assign({}, ...allRules.filter((r) => r.code === code).map((r) => r.defaults)) as Record<string, unknown>;
    let rule: ResolvedRule = { mode: 'enforce', severity: REASON_CODES[code].severity, params: defaults };
    for (const layer of present) {
      const override = (layer.rules as Record<string, Record<string, unknown> | undefined> | undefined)?.[code];
      if (!override) continue;
      const { mode, severity, ...params } = override;
      rule = {
        mode: (mode as Mode) ?? rule.mode,
        severity: (severity as Severity) ?? rule.severity,
        params: mergeParams(rule.params, params),
      };
    }
    resolved[code] = rule;
  }
  let policy = DEFAULT_POLICY;
  for (const layer of present) policy = { ...policy, ...layer.policy, weights: { ...policy.weights, ...layer.policy?.weights } };
  let clickBlocking: ClickBlocking = { mode: 'score', fallbackUrl: null };
  for (const layer of present) clickBlocking = { ...clickBlocking, ...layer.clickBlocking };
  return {
    version,
    policy,
    rules: resolved,
    lists: new CompiledLists(
      present.map((l) => l.lists),
      blocks,
    ),
    clickBlocking,
  };
}

/** Validates a standalone rule set and fills in every default. */
export function resolveRuleSet(input: unknown): RuleSet {
  const checked = compiled(RuleSetInput).check(input);
  if (!checked.ok) throw new RuleSetError(checked.errors);
  const { version, ...layer } = checked.value;
  return combineLayers(version, [validateLayer(layer)]);
}

/** Parameter objects (such as per-type CTIT minimums) merge key by key; values replace. */
function mergeParams(defaults: Record<string, unknown>, override: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...defaults };
  for (const [k, v] of Object.entries(override)) {
    const d = defaults[k];
    out[k] = isPlainObject(d) && isPlainObject(v) ? { ...d, ...v } : v;
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function join(prefix: string, field: string): string {
  return prefix && field ? `${prefix}.${field}` : prefix || field;
}

/** The built-in rule set: DESIGN §4 defaults, every rule enforced, the starter data-center list. */
export const DEFAULT_RULESET: RuleSet = resolveRuleSet({ version: 'builtin-1' });
