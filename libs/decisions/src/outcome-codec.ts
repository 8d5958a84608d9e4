import { EXPLAINED_KEYS, REASON_CODES, catalogueMessage, explainedEvidence, hasKeys, modelRiskDrivers, ownDrivers } from '@app/contracts';
import type { ClickVerdict, Decision, Evidence, EvidenceRow, Reason } from '@app/contracts';
import type { JsonCodec } from '@app/features';

/**
 * How the engine keeps the outcomes it remembers for redelivery (`EncodedMap`), in about half the
 * bytes of their JSON: values in the order of the literal that built them instead of key-value
 * pairs, and a reason without its message and category when the reason-code catalogue gives them
 * back from the code and evidence (`explain` is a pure function of the evidence). Anything that
 * does not have exactly the expected keys in the expected order (a decision loaded from the
 * database, a reason with a message from an older release) is kept as it is. Decoding gives what
 * `JSON.parse(JSON.stringify(outcome))` gives: what a consumer of the published outcome received.
 */

const VERDICT_KEYS = [
  'kind',
  'clickId',
  'ts',
  'offerId',
  'publisherId',
  'advertiserId',
  'subId',
  'valid',
  'score',
  'category',
  'reasons',
  'rulesetVersion',
  'modelVersion',
  'modelScore',
  'shadowModelVersion',
  'shadowScore',
  'decidedAt',
  'latencyMs',
] as const;

const DECISION_KEYS = [
  'kind',
  'conversionId',
  'clickId',
  'ts',
  'offerId',
  'publisherId',
  'advertiserId',
  'subId',
  'status',
  'score',
  'reasons',
  'amount',
  'revenue',
  'payout',
  'currency',
  'ctitSeconds',
  'revision',
  'previousStatus',
  'resolvedBy',
  'holdUntil',
  'note',
  'actor',
  'partition',
  'rulesetVersion',
  'modelVersion',
  'modelScore',
  'shadowModelVersion',
  'shadowScore',
  'decidedAt',
  'latencyMs',
] as const;

const MINTED_VERDICT_KEYS = [...VERDICT_KEYS, 'idMinted'] as const;

const ROW_KEYS = ['feature', 'value', 'typicalLegit', 'contribution'] as const;

/** The first element of a packed outcome. */
const enum Tag {
  Plain = 0,
  Verdict = 1,
  /** A verdict with `idMinted: true` after its other keys. */
  MintedVerdict = 2,
  Decision = 3,
}

type Packed = [Tag, ...unknown[]];

/**
 * `built`: the outcome was just made by the engine from what its rules returned (`runRules`), so
 * every reason's message is the catalogue's for its evidence and MODEL_RISK's drivers are its rows'
 * own (`modelRiskDrivers`): neither is formatted again to check it (about 0.5 µs an outcome, half
 * of packing). Anything else (a decision loaded from the database, a revision) is checked.
 * `built-outcomes.spec.ts` holds the engine to this on every outcome it packs as built.
 */
function packOutcome<O extends ClickVerdict | Decision>(o: O, built = false): Packed {
  let tag: Tag;
  if (o.kind === 'click') {
    if (o.idMinted === undefined) tag = hasKeys(o, VERDICT_KEYS) ? Tag.Verdict : Tag.Plain;
    else tag = o.idMinted === true && hasKeys(o, MINTED_VERDICT_KEYS) ? Tag.MintedVerdict : Tag.Plain;
  } else {
    tag = hasKeys(o, DECISION_KEYS) ? Tag.Decision : Tag.Plain;
  }
  if (tag === Tag.Plain) return [Tag.Plain, o];
  // `kind` is the tag; the values in the order of `keys` (checked above), read by name: a loop of
  // keyed reads over them cost half of the packing.
  const reasons = packReasons(o.reasons, built);
  if (o.kind === 'click') {
    const v = o as ClickVerdict;
    return [
      tag,
      v.clickId,
      v.ts,
      v.offerId,
      v.publisherId,
      v.advertiserId,
      v.subId,
      v.valid,
      v.score,
      v.category,
      reasons,
      v.rulesetVersion,
      v.modelVersion,
      v.modelScore,
      v.shadowModelVersion,
      v.shadowScore,
      v.decidedAt,
      v.latencyMs,
    ];
  }
  const d = o as Decision;
  return [
    tag,
    d.conversionId,
    d.clickId,
    d.ts,
    d.offerId,
    d.publisherId,
    d.advertiserId,
    d.subId,
    d.status,
    d.score,
    reasons,
    d.amount,
    d.revenue,
    d.payout,
    d.currency,
    d.ctitSeconds,
    d.revision,
    d.previousStatus,
    d.resolvedBy,
    d.holdUntil,
    d.note,
    d.actor,
    d.partition,
    d.rulesetVersion,
    d.modelVersion,
    d.modelScore,
    d.shadowModelVersion,
    d.shadowScore,
    d.decidedAt,
    d.latencyMs,
  ];
}

function packReasons(reasons: readonly Reason[], built: boolean): unknown[] {
  const packed = new Array<unknown>(reasons.length);
  for (let i = 0; i < reasons.length; i++) packed[i] = packReason(reasons[i], built);
  return packed;
}

function unpackOutcome(p: Packed): ClickVerdict | Decision {
  switch (p[0]) {
    case Tag.Plain:
      return p[1] as ClickVerdict | Decision;
    case Tag.Verdict:
    case Tag.MintedVerdict: {
      const o: Record<string, unknown> = { kind: 'click' };
      for (let i = 1; i < VERDICT_KEYS.length; i++) o[VERDICT_KEYS[i]] = VERDICT_KEYS[i] === 'reasons' ? unpackReasons(p[i]) : p[i];
      if (p[0] === Tag.MintedVerdict) o.idMinted = true;
      return o as unknown as ClickVerdict;
    }
    case Tag.Decision: {
      const o: Record<string, unknown> = { kind: 'conversion' };
      for (let i = 1; i < DECISION_KEYS.length; i++) o[DECISION_KEYS[i]] = DECISION_KEYS[i] === 'reasons' ? unpackReasons(p[i]) : p[i];
      return o as unknown as Decision;
    }
    default:
      throw new Error(`unknown packed outcome ${String(p[0])}`);
  }
}

/** [code, severity, message or 0 (the catalogue's), evidence, monitorOnly]; the reason itself when it cannot be. */
function packReason(r: Reason, built: boolean): unknown {
  const catalogue = catalogueMessage(r, built);
  if (catalogue === null) return r;
  const evidence = packEvidence(r.evidence, built && r.code === 'MODEL_RISK');
  return [r.code, r.severity, catalogue ? 0 : r.message, evidence, r.monitorOnly];
}

function unpackReasons(packed: unknown): Reason[] {
  return (packed as unknown[]).map((p) => {
    if (!Array.isArray(p)) return p as Reason;
    const [code, severity, message, packedEvidence, monitorOnly] = p as [Reason['code'], Reason['severity'], string | 0, unknown, boolean];
    const spec = REASON_CODES[code];
    const evidence = unpackEvidence(packedEvidence);
    return { code, category: spec.category, severity, message: message === 0 ? spec.explain(evidence) : message, evidence, monitorOnly };
  });
}

/**
 * A table's rows (MODEL_RISK's contributions) as arrays when they have the usual columns; MODEL_RISK's
 * evidence as an array of its values, without `drivers` when they are the rows' own.
 */
function packEvidence(e: Evidence, builtModelRisk: boolean): unknown {
  if (explainedEvidence(e)) {
    // MODEL_RISK with rows (a quarter of the simulated outcomes): its values read by name into one literal.
    const rows = e.contributions as EvidenceRow[];
    return [
      packValue(e.probability),
      packValue(e.threshold),
      packValue(e.model),
      packValue(e.authority),
      packValue(e.basis),
      packValue(e.explanation),
      packValue(e.bias),
      packRows(rows),
      ownDrivers(e, builtModelRisk) ? 0 : packValue(e.drivers),
    ];
  }
  let packed: Record<string, unknown> | null = null;
  for (const k in e) {
    const v = e[k];
    if (!Array.isArray(v)) continue;
    packed ??= { ...e };
    packed[k] = packRows(v);
  }
  return packed ?? e;
}

/** A table's rows as arrays when they have the usual columns. */
function packRows(rows: readonly unknown[]): unknown[] {
  const packed = new Array<unknown>(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as EvidenceRow;
    packed[i] = hasKeys(row, ROW_KEYS) ? [row.feature, row.value, row.typicalLegit, row.contribution] : row;
  }
  return packed;
}

function packValue(v: unknown): unknown {
  return Array.isArray(v) ? packRows(v) : v;
}

function unpackEvidence(packed: unknown): Evidence {
  const explained = Array.isArray(packed);
  let e: Record<string, unknown>;
  if (explained) {
    e = {};
    for (let i = 0; i < EXPLAINED_KEYS.length; i++) e[EXPLAINED_KEYS[i]] = packed[i];
  } else e = packed as Record<string, unknown>;
  for (const k in e) {
    const v = e[k];
    if (!Array.isArray(v)) continue;
    e[k] = v.map((row) =>
      Array.isArray(row) ? ({ feature: row[0], value: row[1], typicalLegit: row[2], contribution: row[3] } as EvidenceRow) : row,
    );
  }
  if (explained && e.drivers === 0) e.drivers = modelRiskDrivers(e.contributions as EvidenceRow[]);
  return e as Evidence;
}

const codec = { pack: packOutcome, unpack: unpackOutcome };
export const VERDICT_CODEC = codec as JsonCodec<ClickVerdict, Packed>;
export const DECISION_CODEC = codec as JsonCodec<Decision, Packed>;
