import type { Pool } from 'pg';
import {
  Decision,
  Reason,
  StoredClickVerdict,
  StoredReason,
  encodedReasons,
  feedbackKey,
  hasMintedClickShape,
  hasScopedShape,
  scopedEventId,
  senderScope,
} from '@app/contracts';
import { Column, json, keyedInsert, ledgeredInsert, selectInput, splitBy, unnestRows, writeKeyed } from '../bulk';
import { inTransaction } from '../database';

/**
 * Reasons as JSON for their jsonb column: the text they were parsed from when they came as an outcome
 * item (the text the contract check saw parsed; `encodedReasons`; the same values for the scorer's own
 * numbers, see `outcome-items.ts`), else encoded here.
 */
function reasonsJson(reasons: readonly StoredReason[]): string | null {
  return encodedReasons(reasons) ?? json(reasons);
}

const VERDICT_COLUMNS: Column<StoredClickVerdict>[] = [
  { name: 'click_id', type: 'text', value: (v) => v.clickId },
  { name: 'ts', type: 'timestamptz', value: (v) => v.ts },
  { name: 'decided_at', type: 'timestamptz', value: (v) => v.decidedAt },
  { name: 'offer_id', type: 'text', value: (v) => v.offerId },
  { name: 'publisher_id', type: 'text', value: (v) => v.publisherId },
  { name: 'advertiser_id', type: 'text', value: (v) => v.advertiserId },
  { name: 'sub_id', type: 'text', value: (v) => v.subId },
  { name: 'valid', type: 'boolean', value: (v) => v.valid },
  { name: 'score', type: 'real', value: (v) => v.score },
  { name: 'category', type: 'text', value: (v) => v.category },
  // Arrays of arrays cannot go through unnest (it flattens them): codes travel comma-joined.
  {
    name: 'reason_codes',
    type: 'text',
    value: (v) => v.reasons.map((r) => r.code).join(','),
    select: "string_to_array($, ',')",
    copy: (v) => `{${v}}`,
  },
  { name: 'reasons', type: 'text', value: (v) => reasonsJson(v.reasons), select: '$::jsonb' },
  { name: 'ruleset_version', type: 'text', value: (v) => v.rulesetVersion },
  { name: 'model_version', type: 'text', value: (v) => v.modelVersion },
  { name: 'latency_ms', type: 'real', value: (v) => v.latencyMs },
  { name: 'model_score', type: 'real', value: (v) => v.modelScore },
  { name: 'shadow_model_version', type: 'text', value: (v) => v.shadowModelVersion },
  { name: 'shadow_score', type: 'real', value: (v) => v.shadowScore },
];
/** Verdicts on clicks whose id the engine minted: idempotent on the table's (click_id, ts) key. */
const mintedVerdictInsert = keyedInsert<StoredClickVerdict>('click_verdicts', VERDICT_COLUMNS);
/** Verdicts on clicks whose id a sender chose: through the ledger, like their clicks. */
const verdictInsert = ledgeredInsert<StoredClickVerdict>('click_verdict', 'click_verdicts', 'click_id', VERDICT_COLUMNS, (v) =>
  hasMintedClickShape(v.clickId),
);

const decisionInsert = ledgeredInsert<Decision>('decision', 'decisions', 'conversion_id', [
  { name: 'conversion_id', type: 'text', value: (d) => d.conversionId },
  { name: 'ts', type: 'timestamptz', value: (d) => d.ts },
  { name: 'click_id', type: 'text', value: (d) => d.clickId },
  { name: 'offer_id', type: 'text', value: (d) => d.offerId },
  { name: 'publisher_id', type: 'text', value: (d) => d.publisherId },
  { name: 'advertiser_id', type: 'text', value: (d) => d.advertiserId },
  { name: 'sub_id', type: 'text', value: (d) => d.subId },
  { name: 'status', type: 'text', value: (d) => d.status },
  { name: 'score', type: 'real', value: (d) => d.score },
  {
    name: 'reason_codes',
    type: 'text',
    value: (d) => d.reasons.map((r) => r.code).join(','),
    select: "string_to_array($, ',')",
    copy: (v) => `{${v}}`,
  },
  { name: 'reasons', type: 'text', value: (d) => reasonsJson(d.reasons), select: '$::jsonb' },
  { name: 'amount', type: 'numeric', value: (d) => d.amount },
  { name: 'revenue', type: 'numeric', value: (d) => d.revenue },
  { name: 'payout', type: 'numeric', value: (d) => d.payout },
  { name: 'currency', type: 'text', value: (d) => d.currency },
  { name: 'ctit_seconds', type: 'float8', value: (d) => d.ctitSeconds },
  { name: 'ruleset_version', type: 'text', value: (d) => d.rulesetVersion },
  { name: 'model_version', type: 'text', value: (d) => d.modelVersion },
  { name: 'decided_at', type: 'timestamptz', value: (d) => d.decidedAt },
  { name: 'latency_ms', type: 'real', value: (d) => d.latencyMs },
  { name: 'revision', type: 'integer', value: (d) => d.revision },
  { name: 'previous_status', type: 'text', value: (d) => d.previousStatus },
  { name: 'resolved_by', type: 'text', value: (d) => d.resolvedBy },
  { name: 'hold_until', type: 'timestamptz', value: (d) => d.holdUntil },
  { name: 'note', type: 'text', value: (d) => d.note },
  { name: 'actor', type: 'text', value: (d) => d.actor },
  { name: 'partition', type: 'smallint', value: (d) => d.partition },
  { name: 'model_score', type: 'real', value: (d) => d.modelScore },
  { name: 'shadow_model_version', type: 'text', value: (d) => d.shadowModelVersion },
  { name: 'shadow_score', type: 'real', value: (d) => d.shadowScore },
]);

// A later revision replaces the row's outcome (only forwards: an older revision arriving late
// changes nothing) and is kept in decision_transitions for audit.
const revisionColumns: Column<Decision>[] = [
  { name: 'conversion_id', type: 'text', value: (d) => d.conversionId },
  { name: 'revision', type: 'integer', value: (d) => d.revision },
  { name: 'status', type: 'text', value: (d) => d.status },
  { name: 'previous_status', type: 'text', value: (d) => d.previousStatus },
  { name: 'score', type: 'real', value: (d) => d.score },
  {
    name: 'reason_codes',
    type: 'text',
    value: (d) => d.reasons.map((r) => r.code).join(','),
    select: "string_to_array($, ',')",
    copy: (v) => `{${v}}`,
  },
  { name: 'reasons', type: 'text', value: (d) => reasonsJson(d.reasons), select: '$::jsonb' },
  { name: 'resolved_by', type: 'text', value: (d) => d.resolvedBy },
  { name: 'note', type: 'text', value: (d) => d.note },
  { name: 'actor', type: 'text', value: (d) => d.actor },
  { name: 'hold_until', type: 'timestamptz', value: (d) => d.holdUntil },
  { name: 'decided_at', type: 'timestamptz', value: (d) => d.decidedAt },
  { name: 'latency_ms', type: 'real', value: (d) => d.latencyMs },
  { name: 'ruleset_version', type: 'text', value: (d) => d.rulesetVersion },
  { name: 'model_version', type: 'text', value: (d) => d.modelVersion },
  { name: 'model_score', type: 'real', value: (d) => d.modelScore },
];
const revise = unnestRows(revisionColumns);
const REVISE_SQL = `
  WITH input AS (${revise.sql})
  UPDATE decisions d SET ${revisionColumns
    .filter((c) => c.name !== 'conversion_id')
    .map((c) => `${c.name} = ${c.select ? c.select.replaceAll('$', `input.${c.name}`) : `input.${c.name}`}`)
    .join(', ')}
  FROM input
  WHERE d.conversion_id = input.conversion_id AND d.revision < input.revision`;

const transitionColumns: Column<Decision>[] = [
  { name: 'conversion_id', type: 'text', value: (d) => d.conversionId },
  { name: 'revision', type: 'integer', value: (d) => d.revision },
  { name: 'ts', type: 'timestamptz', value: (d) => d.ts },
  { name: 'from_status', type: 'text', value: (d) => d.previousStatus },
  { name: 'to_status', type: 'text', value: (d) => d.status },
  { name: 'resolved_by', type: 'text', value: (d) => d.resolvedBy },
  {
    name: 'reason_codes',
    type: 'text',
    value: (d) => d.reasons.map((r) => r.code).join(','),
    select: "string_to_array($, ',')",
    copy: (v) => `{${v}}`,
  },
  { name: 'note', type: 'text', value: (d) => d.note },
  { name: 'actor', type: 'text', value: (d) => d.actor },
  { name: 'advertiser_id', type: 'text', value: (d) => d.advertiserId },
  { name: 'publisher_id', type: 'text', value: (d) => d.publisherId },
  { name: 'decided_at', type: 'timestamptz', value: (d) => d.decidedAt },
  { name: 'feedback_id', type: 'text', value: (d) => d.feedbackId ?? null },
];
const transitions = unnestRows(transitionColumns);
const TRANSITIONS_SQL = `
  INSERT INTO decision_transitions (${transitionColumns.map((c) => c.name).join(', ')})
  SELECT ${selectInput(transitionColumns)} FROM (${transitions.sql}) AS input
  ON CONFLICT DO NOTHING`;

/** Verdicts and decisions: written idempotently, read by the API and the scorer. */
export class OutcomeRepository {
  constructor(private readonly pool: Pool) {}

  /**
   * Writes verdicts and decisions idempotently. A decision's first arrival creates its row (even
   * when a later revision overtook the first one); later revisions update it and are audited.
   * An outcome that comes twice (re-scored after a scorer crash, in another batch message, so
   * JetStream did not drop it) keeps its first copy within a batch, as the tables' keys do across
   * batches: the copy the notifier delivered, which de-duplicates the same way.
   */
  async insert(outcomes: readonly (StoredClickVerdict | Decision)[]): Promise<{ verdicts: number; decisions: number; revisions: number }> {
    const verdicts = outcomes.filter((o): o is StoredClickVerdict => o.kind === 'click');
    // A stable sort: copies of one revision stay in the order they came.
    const decisions = outcomes.filter((o): o is Decision => o.kind === 'conversion').sort((a, b) => a.revision - b.revision);
    const [minted, chosen] = splitBy(
      firstBy(verdicts, (v) => v.clickId),
      (v) => v.idMinted === true,
    );
    // The usual batch (verdicts on clicks the engine minted ids for, nothing else) is one statement: no transaction.
    if (chosen.length === 0 && decisions.length === 0) {
      return {
        verdicts: minted.length ? await writeKeyed(this.pool, mintedVerdictInsert, minted) : 0,
        decisions: 0,
        revisions: 0,
      };
    }
    return inTransaction(this.pool, async (client) => {
      const counts = { verdicts: 0, decisions: 0, revisions: 0 };
      if (minted.length) counts.verdicts += (await client.query(mintedVerdictInsert.sql, mintedVerdictInsert.params(minted))).rowCount ?? 0;
      if (chosen.length) counts.verdicts += (await client.query(verdictInsert.sql, verdictInsert.params(chosen))).rowCount ?? 0;
      if (decisions.length) {
        const newest = newestRevisions(decisions);
        counts.decisions = (await client.query(decisionInsert.sql, decisionInsert.params(newest))).rowCount ?? 0;
        const revisions = newest.filter((d) => d.revision > 0);
        if (revisions.length) counts.revisions = (await client.query(REVISE_SQL, revise.params(revisions))).rowCount ?? 0;
        const changes = firstBy(
          decisions.filter((d) => d.revision > 0),
          (d) => `${d.conversionId}:${d.revision}`,
        );
        if (changes.length) await client.query(TRANSITIONS_SQL, transitions.params(changes));
      }
      return counts;
    });
  }

  /** Open holds of the given scorer partitions (a starting scorer takes them over). */
  async findOpenHolds(partitions: readonly number[]): Promise<Decision[]> {
    const { rows } = await this.pool.query(`SELECT * FROM decisions WHERE status = 'hold' AND partition = ANY ($1::smallint[])`, [
      partitions,
    ]);
    return rows.map(toDecision);
  }

  /** The decision for a conversion; `advertiserId` / `publisherId` scope the lookup to a tenant. */
  async findDecision(conversionId: string, scope: { advertiserId?: string; publisherId?: string } = {}): Promise<Decision | null> {
    const { rows } = await this.pool.query(
      `SELECT * FROM decisions
        WHERE conversion_id = $1
          AND ($2::text IS NULL OR advertiser_id = $2)
          AND ($3::text IS NULL OR publisher_id = $3)
        ORDER BY decided_at DESC LIMIT 1`,
      [conversionId, scope.advertiserId ?? null, scope.publisherId ?? null],
    );
    return rows.length ? toDecision(rows[0]) : null;
  }

  /**
   * An advertiser's decision on one of its conversions, named by the id the conversion was answered
   * with, or else by the id the advertiser chose when it sent it with its key or postback token (the
   * stored id is derived from it: `scopedEventId`). Not by an id an open pixel chose: anybody may send
   * one into an open offer's namespace, so it is not the advertiser's id (docs/trust.md); the answered
   * id names such a conversion. Both look-ups keep the advertiser's filter; an advertiser without an
   * id throws (`senderScope`) rather than read unfiltered.
   */
  async findAdvertiserDecision(id: string, advertiserId: string): Promise<Decision | null> {
    const own = senderScope('advertiser', advertiserId);
    return (
      (await this.findDecision(id, { advertiserId })) ??
      (hasScopedShape(id) ? null : await this.findDecision(scopedEventId(own, id), { advertiserId }))
    );
  }

  /**
   * Which of these clicks already have a verdict recorded (the scorer answers a redelivered click
   * it no longer remembers, or a click sent again, by it), matched by id and time pair by pair: the
   * time lets the planner skip the hypertable's other chunks (TimescaleDB compresses chunks past 7
   * days without an index on the id, so a look-up by id alone would decompress them all). The caller
   * asks each time the row may have: a sender-chosen id's verdict carries its first click's time
   * (the ledger keeps one row per id) while a click sent again has a new one (its receipt).
   */
  async recordedVerdicts(clicks: readonly { id: string; ts: string }[]): Promise<Set<string>> {
    if (clicks.length === 0) return new Set();
    const { rows } = await this.pool.query<{ click_id: string }>(
      `SELECT DISTINCT v.click_id FROM click_verdicts v
         JOIN unnest($1::text[], $2::timestamptz[]) AS k(id, ts) ON v.click_id = k.id AND v.ts = k.ts`,
      [clicks.map((c) => c.id), clicks.map((c) => c.ts)],
    );
    return new Set(rows.map((r) => r.click_id));
  }

  /**
   * Which of these feedback events made a recorded revision of their conversion (keys: `feedbackKey`): the scorer does not apply them again. Found through the
   * transitions' primary key (a conversion's few revisions), never a scan.
   */
  async recordedFeedback(feedback: readonly { id: string; conversionId: string }[]): Promise<Set<string>> {
    if (feedback.length === 0) return new Set();
    const { rows } = await this.pool.query<{ conversion_id: string; feedback_id: string }>(
      `SELECT t.conversion_id, t.feedback_id FROM decision_transitions t
         JOIN unnest($1::text[], $2::text[]) AS k(conversion_id, feedback_id)
           ON t.conversion_id = k.conversion_id AND t.feedback_id = k.feedback_id`,
      [feedback.map((f) => f.conversionId), feedback.map((f) => f.id)],
    );
    return new Set(rows.map((r) => feedbackKey({ conversionId: r.conversion_id, id: r.feedback_id })));
  }

  /** Which of these conversions already have a decision (of any revision). */
  async decidedConversions(conversionIds: readonly string[]): Promise<Set<string>> {
    if (conversionIds.length === 0) return new Set();
    const { rows } = await this.pool.query<{ conversion_id: string }>(
      `SELECT DISTINCT conversion_id FROM decisions WHERE conversion_id = ANY($1::text[])`,
      [conversionIds],
    );
    return new Set(rows.map((r) => r.conversion_id));
  }
}

/** The first row of each key, in order. */
function firstBy<T>(rows: readonly T[], key: (row: T) => string): T[] {
  const byKey = new Map<string, T>();
  for (const r of rows) {
    const k = key(r);
    if (!byKey.has(k)) byKey.set(k, r);
  }
  return byKey.size === rows.length ? [...rows] : [...byKey.values()];
}

/** Each conversion's highest revision, the first copy of it (`sorted` by revision, stably). */
function newestRevisions(sorted: readonly Decision[]): Decision[] {
  const byConversion = new Map<string, Decision>();
  for (const d of sorted) {
    const seen = byConversion.get(d.conversionId);
    if (!seen || d.revision > seen.revision) byConversion.set(d.conversionId, d);
  }
  return [...byConversion.values()];
}

export function toDecision(r: Record<string, unknown>): Decision {
  return {
    kind: 'conversion',
    conversionId: r.conversion_id as string,
    clickId: r.click_id as string,
    advertiserId: r.advertiser_id as string | null,
    publisherId: r.publisher_id as string | null,
    offerId: r.offer_id as string | null,
    subId: r.sub_id as string | null,
    status: r.status as Decision['status'],
    score: r.score as number,
    reasons: r.reasons as Reason[],
    amount: r.amount as number,
    // Rows from before migration 0011 had their sale amount counted as revenue.
    revenue: (r.revenue as number | null) ?? (r.amount as number),
    payout: r.payout as number,
    currency: r.currency as string,
    ctitSeconds: r.ctit_seconds as number | null,
    revision: r.revision as number,
    previousStatus: (r.previous_status as Decision['previousStatus']) ?? null,
    resolvedBy: r.resolved_by as Decision['resolvedBy'],
    holdUntil: r.hold_until ? (r.hold_until as Date).toISOString() : null,
    note: (r.note as string | null) ?? null,
    actor: (r.actor as string | null) ?? null,
    partition: r.partition as number,
    rulesetVersion: r.ruleset_version as string,
    modelVersion: r.model_version as string | null,
    modelScore: (r.model_score as number | null) ?? null,
    shadowModelVersion: (r.shadow_model_version as string | null) ?? null,
    shadowScore: (r.shadow_score as number | null) ?? null,
    ts: (r.ts as Date).toISOString(),
    decidedAt: (r.decided_at as Date).toISOString(),
    latencyMs: r.latency_ms as number,
  };
}
