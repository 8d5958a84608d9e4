import { REASON_CODES, modelRiskDrivers } from './reason-codes';
import type { Evidence, EvidenceRow } from './reason-codes';
import type { Reason, StoredReason } from './verdict.schema';

/**
 * What of a reason the reason-code catalogue gives back, shared by the engine's packed outcomes
 * (`outcome-codec.ts` in `@app/decisions`) and the reasons VERDICTS carries and click_verdicts keeps
 * (`storedReasons`, `fullReasons`): the category from the code, the message from the evidence
 * (`explain` is a pure function of it) and MODEL_RISK's `drivers` from its rows (`modelRiskDrivers`).
 * Here beside the catalogue, not in `@app/decisions`: the recorder and the API's storage read them
 * without loading the scoring engine.
 */

export const REASON_KEYS = ['code', 'category', 'severity', 'message', 'evidence', 'monitorOnly'] as const;

/** MODEL_RISK's evidence with a per-event explanation, in the order its rule builds it. */
export const EXPLAINED_KEYS = [
  'probability',
  'threshold',
  'model',
  'authority',
  'basis',
  'explanation',
  'bias',
  'contributions',
  'drivers',
] as const;

/** True when `o` has exactly `keys`, in that order, none of them undefined. */
export function hasKeys(o: object, keys: readonly string[]): boolean {
  let i = 0;
  for (const k in o) {
    if (k !== keys[i++] || (o as Record<string, unknown>)[k] === undefined) return false;
  }
  return i === keys.length;
}

/**
 * Evidence whose JSON reads back as itself: no undefined, NaN or infinite values (JSON turns them
 * into null or drops them, and the message the catalogue builds from that would differ), no -0.
 */
export function plainEvidence(e: Evidence): boolean {
  for (const k in e) {
    const v = e[k];
    if (v === undefined || !plainScalar(v)) {
      if (!Array.isArray(v)) return false;
      for (const row of v) for (const c in row) if (row[c] === undefined || !plainScalar(row[c])) return false;
    }
  }
  return true;
}

function plainScalar(v: unknown): boolean {
  return typeof v !== 'number' ? typeof v !== 'object' || v === null : Number.isFinite(v) && !Object.is(v, -0);
}

/**
 * Null when the catalogue cannot stand for any of the reason (a code it does not know, another
 * category, other keys or key order, evidence its JSON would change); else whether the message is
 * the catalogue's for the evidence. `built`: the engine just made the reason from what its rule
 * returned, so the message is the catalogue's and is not formatted again to check it (about
 * 0.5 µs an outcome; `built-outcomes.spec.ts` holds the engine to it).
 */
export function catalogueMessage(r: Reason, built: boolean): boolean | null {
  const spec = REASON_CODES[r.code];
  if (!spec || r.category !== spec.category || !hasKeys(r, REASON_KEYS) || !plainEvidence(r.evidence)) return null;
  return built || spec.explain(r.evidence) === r.message;
}

/** Whether MODEL_RISK's explained evidence (`EXPLAINED_KEYS`) has its rows' own drivers (`built`: as its rule wrote them). */
export function ownDrivers(e: Evidence, built: boolean): boolean {
  return built || e.drivers === modelRiskDrivers(e.contributions as EvidenceRow[]);
}

/** MODEL_RISK's evidence with a per-event explanation (its rows as an array), in its rule's order. */
export function explainedEvidence(e: Evidence): boolean {
  return hasKeys(e, EXPLAINED_KEYS) && Array.isArray(e.contributions);
}

/**
 * Reasons as VERDICTS carries them to the recorder and click_verdicts keeps them (`StoredReason`):
 * a reason whose category and message are the catalogue's goes without them, and MODEL_RISK's
 * per-event evidence without `drivers` when they are its rows' own; `fullReasons` gives them back.
 * On the bench's traffic that is about a third of a verdict's JSON, and the embedded database's
 * `COPY` of the verdicts costs by their size (docs/performance.md, session 9). Any other reason
 * (a message from an older release or written by hand, evidence JSON would change) goes whole.
 * `built`: see `catalogueMessage`.
 */
export function storedReasons(reasons: readonly Reason[], built = false): StoredReason[] {
  const stored = new Array<StoredReason>(reasons.length);
  for (let i = 0; i < reasons.length; i++) stored[i] = storedReason(reasons[i], built);
  return stored;
}

function storedReason(r: Reason, built: boolean): StoredReason {
  if (catalogueMessage(r, built) !== true) return r;
  let e = r.evidence;
  if (r.code === 'MODEL_RISK' && Array.isArray(e.contributions)) {
    if (explainedEvidence(e) && ownDrivers(e, built))
      e = {
        probability: e.probability,
        threshold: e.threshold,
        model: e.model,
        authority: e.authority,
        basis: e.basis,
        explanation: e.explanation,
        bias: e.bias,
        contributions: e.contributions,
      };
    // Rows without drivers: `fullReasons` would add them.
    else if (e.drivers === undefined) return r;
  }
  return { code: r.code, severity: r.severity, evidence: e, monitorOnly: r.monitorOnly };
}

/**
 * Stored reasons (`storedReasons`) read back from their jsonb column, whole: a reason without its
 * message gets its category, MODEL_RISK's drivers and its message from the catalogue; a whole one
 * (older rows, a message the catalogue does not give) is returned as it is. The keys of a rebuilt
 * reason and of its evidence come in jsonb's order (shorter first, then by bytes: every key here is
 * ASCII), so that a reason reads back exactly as the same reason stored whole read back before.
 */
export function fullReasons(stored: readonly StoredReason[]): Reason[] {
  let full: Reason[] | null = null;
  for (let i = 0; i < stored.length; i++) {
    const r = stored[i];
    if (r.message !== undefined) continue;
    full ??= stored.slice() as Reason[];
    full[i] = fullReason(r);
  }
  return full ?? (stored as Reason[]);
}

function fullReason(r: StoredReason): Reason {
  const spec = REASON_CODES[r.code];
  if (!spec) return unknownReason(r);
  let evidence = r.evidence;
  if (r.code === 'MODEL_RISK' && Array.isArray(evidence.contributions) && evidence.drivers === undefined)
    evidence = jsonbOrdered({ ...evidence, drivers: modelRiskDrivers(evidence.contributions) });
  // jsonb's order of a whole reason's keys.
  return {
    code: r.code,
    message: spec.explain(evidence),
    category: spec.category,
    evidence,
    severity: r.severity,
    monitorOnly: r.monitorOnly,
  };
}

/**
 * A stored reason of a code this release does not know (a later release stored it, and this one
 * runs after a rollback or beside it): served with its code, evidence and severity, a message that
 * says only that, and category null (the catalogue that would give it is the later release's),
 * rather than failing the whole rejections page and its CSV export. `Reason` requires a category;
 * the API's reason objects carry null here only (docs/trust.md).
 */
function unknownReason(r: StoredReason): Reason {
  return {
    code: r.code,
    message: unknownCodeMessage(r.code),
    category: null as unknown as Reason['category'],
    evidence: r.evidence,
    severity: r.severity,
    monitorOnly: r.monitorOnly,
  };
}

/** The message served for a stored reason whose code this release does not know. */
function unknownCodeMessage(code: string): string {
  return `Rule ${code} fired; this release does not describe that reason code.`;
}

/** `o`'s keys in jsonb's order: shorter first, then by bytes (the same as by UTF-16 units for ASCII keys). */
function jsonbOrdered<T extends object>(o: T): T {
  const keys = Object.keys(o).sort((a, b) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0));
  const ordered: Record<string, unknown> = {};
  for (const k of keys) ordered[k] = (o as Record<string, unknown>)[k];
  return ordered as T;
}
