import type { Pool } from 'pg';

/** How well one reason code separated fraud from legitimate traffic, where the truth is known. */
export interface RuleQuality {
  kind: 'click' | 'conversion';
  code: string;
  /** Labelled events it fired on (enforced or monitor-only). */
  fired: number;
  truePositives: number;
  falsePositives: number;
  /** Labelled fraud it missed (the kind's labelled fraud it did not fire on). */
  falseNegatives: number;
  precision: number | null;
  recall: number | null;
}

export interface RuleQualityBucket {
  bucket: string;
  rules: RuleQuality[];
}

// The labels that are themselves the truth, not detectors.
const HUMAN_CODES = `('ANALYST_OVERRIDE', 'ADVERTISER_REJECTED')`;

/**
 * Labelled outcomes: a conversion's truth is its latest feedback (advertiser or analyst), else
 * the label it was stored with (admin files); a click's is its stored label. `$3` is the bucket.
 */
export const LABELLED_OUTCOMES_SQL = `
  SELECT 'conversion' AS kind, date_trunc($3, d.ts) AS bucket, d.reason_codes,
         coalesce((SELECT CASE f.status WHEN 'rejected' THEN 'fraud' ELSE 'legit' END FROM feedback f
                    WHERE f.conversion_id = d.conversion_id ORDER BY f.ts DESC, f.received_at DESC LIMIT 1), c.label) AS label
    FROM decisions d LEFT JOIN conversions c ON c.id = d.conversion_id AND c.ts = d.ts
   WHERE d.ts >= $1 AND d.ts < $2
  UNION ALL
  SELECT 'click', date_trunc($3, c.ts), v.reason_codes, c.label
    FROM clicks c JOIN click_verdicts v ON v.click_id = c.id AND v.ts = c.ts
   WHERE c.ts >= $1 AND c.ts < $2 AND c.label IS NOT NULL`;

const LABELLED = `SELECT * FROM (${LABELLED_OUTCOMES_SQL}) o WHERE label IN ('fraud', 'legit')`;

const QUALITY_SQL = `
  SELECT l.kind, l.bucket, r.code, count(*) AS fired, count(*) FILTER (WHERE l.label = 'fraud') AS tp
    FROM (${LABELLED}) l
   CROSS JOIN LATERAL unnest(l.reason_codes) AS r(code)
   WHERE r.code NOT IN ${HUMAN_CODES}
   GROUP BY 1, 2, 3`;

const TRUTH_SQL = `
  SELECT kind, bucket, count(*) AS labelled, count(*) FILTER (WHERE label = 'fraud') AS fraud
    FROM (${LABELLED}) l GROUP BY 1, 2`;

export interface LabelledCounts {
  labelled: number;
  fraud: number;
}

/** Per-rule precision and recall from labelled outcomes, over a range and by hour or day. */
export class RuleQualityRepository {
  constructor(private readonly pool: Pool) {}

  async quality(
    range: { from: Date; to: Date },
    grain: 'hour' | 'day',
  ): Promise<{ labelled: Record<'click' | 'conversion', LabelledCounts>; rules: RuleQuality[]; buckets: RuleQualityBucket[] }> {
    const params = [range.from, range.to, grain];
    const [fired, truth] = await Promise.all([this.pool.query(QUALITY_SQL, params), this.pool.query(TRUTH_SQL, params)]);
    const labelled = { click: { labelled: 0, fraud: 0 }, conversion: { labelled: 0, fraud: 0 } };
    const fraudIn = new Map<string, number>();
    for (const r of truth.rows) {
      const kind = r.kind as 'click' | 'conversion';
      labelled[kind].labelled += Number(r.labelled);
      labelled[kind].fraud += Number(r.fraud);
      fraudIn.set(`${kind}|${(r.bucket as Date).toISOString()}`, Number(r.fraud));
    }
    const buckets = new Map<string, RuleQuality[]>();
    const totals = new Map<string, { kind: 'click' | 'conversion'; code: string; fired: number; tp: number }>();
    for (const r of fired.rows) {
      const bucket = (r.bucket as Date).toISOString();
      const n = Number(r.fired);
      const tp = Number(r.tp);
      if (!buckets.has(bucket)) buckets.set(bucket, []);
      buckets.get(bucket)!.push(quality(r.kind, r.code, n, tp, fraudIn.get(`${r.kind}|${bucket}`) ?? 0));
      const key = `${r.kind}|${r.code}`;
      if (!totals.has(key)) totals.set(key, { kind: r.kind, code: r.code, fired: 0, tp: 0 });
      totals.get(key)!.fired += n;
      totals.get(key)!.tp += tp;
    }
    const byKindThenFired = (a: RuleQuality, b: RuleQuality) =>
      a.kind.localeCompare(b.kind) || b.fired - a.fired || a.code.localeCompare(b.code);
    return {
      labelled,
      rules: [...totals.values()].map((t) => quality(t.kind, t.code, t.fired, t.tp, labelled[t.kind].fraud)).sort(byKindThenFired),
      buckets: [...buckets]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([bucket, rules]) => ({ bucket, rules: rules.sort(byKindThenFired) })),
    };
  }
}

function quality(kind: 'click' | 'conversion', code: string, fired: number, tp: number, fraud: number): RuleQuality {
  const round = (v: number) => Math.round(v * 10_000) / 10_000;
  return {
    kind,
    code,
    fired,
    truePositives: tp,
    falsePositives: fired - tp,
    falseNegatives: fraud - tp,
    precision: fired ? round(tp / fired) : null,
    recall: fraud ? round(tp / fraud) : null,
  };
}
