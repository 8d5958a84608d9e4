import { Static, TObject, TSchema, Type } from '@sinclair/typebox';
import { REASON_CODES, ReasonCode, Severity, StringEnum, compiled } from '@app/contracts';
import { CLICK_RULES, CONVERSION_RULES } from './catalogue';
import { Mode, Rule } from './rule';

const ModeSchema = StringEnum(['enforce', 'monitor', 'off'] as const);
const SeveritySchema = StringEnum(['low', 'medium', 'high', 'critical'] as const);

/** How reasons become a risk score and the score an outcome. */
export const PolicySettings = Type.Object(
  {
    /** Conversion risk from which the decision is `hold`. */
    holdThreshold: Type.Number({ minimum: 0, maximum: 1 }),
    /** Conversion risk from which the decision is `rejected`. */
    rejectThreshold: Type.Number({ minimum: 0, maximum: 1 }),
    /** Click risk from which the click is invalid. */
    clickInvalidThreshold: Type.Number({ minimum: 0, maximum: 1 }),
    /** Risk each enforced reason adds, by severity; combined as 1 − Π(1 − w). `critical` rejects on its own. */
    weights: Type.Object(
      {
        low: Type.Number({ minimum: 0, maximum: 1 }),
        medium: Type.Number({ minimum: 0, maximum: 1 }),
        high: Type.Number({ minimum: 0, maximum: 1 }),
      },
      { additionalProperties: false },
    ),
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
};

const allRules: readonly Rule<unknown, object>[] = [...CLICK_RULES, ...CONVERSION_RULES];

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

const codes = [...new Set(allRules.map((r) => r.code))];

/** A rule set as an operator writes it: every field optional, defaults fill the rest. */
export const RuleSetInput = Type.Object(
  {
    version: Type.String({ minLength: 1, maxLength: 64 }),
    description: Type.Optional(Type.String({ maxLength: 1000 })),
    policy: Type.Optional(Type.Partial(PolicySettings)),
    rules: Type.Optional(
      Type.Object(Object.fromEntries(codes.map((c) => [c, Type.Optional(ruleOverrideSchema(c))])), { additionalProperties: false }),
    ),
  },
  { additionalProperties: false },
);
export type RuleSetInput = Static<typeof RuleSetInput>;

/** One rule with its effective mode, severity and parameters. */
export interface ResolvedRule {
  mode: Mode;
  severity: Severity;
  params: Record<string, unknown>;
}

/** A rule set with every default applied: what the engine runs. */
export interface RuleSet {
  version: string;
  policy: PolicySettings;
  rules: Record<ReasonCode, ResolvedRule>;
}

export class RuleSetError extends Error {
  constructor(readonly errors: { field: string; message: string }[]) {
    super(`invalid rule set: ${errors.map((e) => `${e.field || '(root)'} ${e.message}`).join('; ')}`);
    this.name = 'RuleSetError';
  }
}

/** Validates an operator's rule set and fills in every default. */
export function resolveRuleSet(input: unknown): RuleSet {
  const checked = compiled(RuleSetInput).check(input);
  if (!checked.ok) throw new RuleSetError(checked.errors);
  const { version, policy, rules = {} } = checked.value;
  if (policy?.holdThreshold !== undefined && policy.rejectThreshold !== undefined && policy.holdThreshold > policy.rejectThreshold) {
    throw new RuleSetError([{ field: 'policy.holdThreshold', message: 'must not exceed rejectThreshold' }]);
  }
  const resolved = {} as Record<ReasonCode, ResolvedRule>;
  for (const code of codes) {
    const override = (rules as Record<string, Record<string, unknown> | undefined>)[code] ?? {};
    const { mode, severity, ...params } = override;
    const defaults = Object.assign({}, ...allRules.filter((r) => r.code === code).map((r) => r.defaults)) as Record<string, unknown>;
    resolved[code] = {
      mode: (mode as Mode) ?? 'enforce',
      severity: (severity as Severity) ?? REASON_CODES[code].severity,
      params: mergeParams(defaults, params),
    };
  }
  return {
    version,
    policy: { ...DEFAULT_POLICY, ...policy, weights: { ...DEFAULT_POLICY.weights, ...policy?.weights } },
    rules: resolved,
  };
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

/** The built-in rule set: DESIGN §4 defaults, every rule enforced. */
export const DEFAULT_RULESET: RuleSet = resolveRuleSet({ version: 'builtin-1' });
