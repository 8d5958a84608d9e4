/** Binary-classification figures for one threshold. */
export interface Confusion {
  tp: number;
  fp: number;
  fn: number;
  tn: number;
  precision: number | null;
  recall: number | null;
  falsePositiveRate: number | null;
}

export function confusion(pairs: readonly { flagged: boolean; fraud: boolean }[]): Confusion {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let tn = 0;
  for (const p of pairs) {
    if (p.flagged && p.fraud) tp++;
    else if (p.flagged) fp++;
    else if (p.fraud) fn++;
    else tn++;
  }
  return { tp, fp, fn, tn, precision: ratio(tp, tp + fp), recall: ratio(tp, tp + fn), falsePositiveRate: ratio(fp, fp + tn) };
}

/**
 * Area under the ROC curve: the probability that a random fraud event scores above a random
 * legitimate one (ties count half). Computed from ranks, O(n log n).
 */
export function rocAuc(scored: readonly { score: number; fraud: boolean }[]): number | null {
  const positives = scored.filter((s) => s.fraud).length;
  const negatives = scored.length - positives;
  if (!positives || !negatives) return null;
  const sorted = [...scored].sort((a, b) => a.score - b.score);
  let rankSum = 0;
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j < sorted.length && sorted[j].score === sorted[i].score) j++;
    const averageRank = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) if (sorted[k].fraud) rankSum += averageRank;
    i = j;
  }
  return round((rankSum - (positives * (positives + 1)) / 2) / (positives * negatives));
}

/** Area under the precision–recall curve (average precision; tied scores are taken together). */
export function prAuc(scored: readonly { score: number; fraud: boolean }[]): number | null {
  const positives = scored.filter((s) => s.fraud).length;
  if (!positives) return null;
  const sorted = [...scored].sort((a, b) => b.score - a.score);
  let tp = 0;
  let seen = 0;
  let area = 0;
  let previousRecall = 0;
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j < sorted.length && sorted[j].score === sorted[i].score) j++;
    for (let k = i; k < j; k++) if (sorted[k].fraud) tp++;
    seen = j;
    const recall = tp / positives;
    area += (recall - previousRecall) * (tp / seen);
    previousRecall = recall;
    i = j;
  }
  return round(area);
}

export function ratio(a: number, b: number): number | null {
  return b === 0 ? null : round(a / b);
}

function round(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}
