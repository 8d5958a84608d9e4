/** One labelled validation example: the model's probability and whether the rules already reject it. */
export interface ValidationRow {
  probability: number;
  rulesReject: boolean;
  fraud: boolean;
}

/**
 * The lowest MODEL_RISK threshold at which rules + model together still reject with at least
 * `minPrecision` on held-out data — the most fraud caught without giving up precision. 1 when no
 * threshold qualifies (the model then never rejects on its own).
 */
export function chooseThreshold(rows: readonly ValidationRow[], minPrecision: number): number {
  const candidates = [...new Set(rows.map((r) => r.probability))].sort((a, b) => b - a);
  let best = 1;
  for (const t of candidates) {
    if (t <= 0) break;
    let tp = 0;
    let fp = 0;
    for (const r of rows) {
      if (r.rulesReject || r.probability >= t) {
        if (r.fraud) tp++;
        else fp++;
      }
    }
    if (tp + fp > 0 && tp / (tp + fp) >= minPrecision) best = t;
    else break; // lower thresholds only add more flags; precision only falls from here on average
  }
  return best;
}
