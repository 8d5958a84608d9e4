import { REASON_CODES, isReasonCode } from '@app/contracts';
import type { Confusion, EvaluationReport, OfflineSummary } from '@app/evaluation';

const pct = (x: number | null) => (x === null ? '–' : `${(x * 100).toFixed(1)} %`);
const num = (x: number | null) => (x === null ? '–' : x.toFixed(4));

function confusionRow(name: string, c: Confusion) {
  return `| ${name} | ${pct(c.falsePositiveRate)} | ${pct(c.precision)} | ${pct(c.recall)} | ${c.tp} | ${c.fp} | ${c.fn} | ${c.tn} |`;
}

/** The evaluation as Markdown tables (what `docs/evaluation.md` holds). */
export function evaluationMarkdown(
  report: EvaluationReport,
  meta: {
    file: string;
    summary: OfflineSummary;
    ruleset: string;
    model: string | null;
    authority?: Record<'click' | 'conversion', { authority: string; basis: string }> | null;
  },
): string {
  const { clicks, conversions } = report;
  const lines = [
    `Traffic: \`${meta.file}\` — ${meta.summary.clicks} clicks, ${meta.summary.conversions} conversions, ${meta.summary.feedback} feedback events` +
      feedbackIds(meta.summary) +
      ` (${clicks.fraud} fraud clicks, ${conversions.fraud} fraud conversions). Rule set \`${meta.ruleset}\`, model \`${meta.model ?? 'none'}\`` +
      (meta.authority
        ? ` (clicks: ${meta.authority.click.authority}, conversions: ${meta.authority.conversion.authority}; ${meta.authority.conversion.basis}).`
        : '.'),
    '',
    '### Outcomes against the labels',
    '',
    'False-positive rate first: the share of legitimate events the engine acted against.',
    '',
    '| outcome | false-positive rate | precision | recall | TP | FP | FN | TN |',
    '|---|---|---|---|---|---|---|---|',
    confusionRow('clicks judged invalid', clicks.invalid),
    confusionRow('clicks invalid or flagged for review (advisory MODEL_RISK)', clicks.flagged),
    confusionRow('conversions held or rejected at once', conversions.heldOrRejected),
    confusionRow('conversions rejected at once', conversions.atDecision),
    confusionRow('conversions rejected after holds resolved (engine alone)', conversions.engine),
    confusionRow('conversions rejected finally (with advertiser feedback)', conversions.final),
    '',
    `${conversions.atDecision.held} conversions were held at first. Risk score ROC-AUC: clicks ${num(clicks.rocAuc)}, conversions ${num(conversions.rocAuc)};` +
      ` PR-AUC: clicks ${num(clicks.prAuc)}, conversions ${num(conversions.prAuc)}.` +
      (clicks.model || conversions.model
        ? ` Model probability alone: ROC-AUC clicks ${num(clicks.model?.rocAuc ?? null)}, conversions ${num(conversions.model?.rocAuc ?? null)}.`
        : '') +
      (clicks.shadow || conversions.shadow
        ? ` Shadow \`${clicks.shadow?.version ?? conversions.shadow?.version}\`: ROC-AUC clicks ${num(clicks.shadow?.rocAuc ?? null)}, conversions ${num(conversions.shadow?.rocAuc ?? null)};` +
          ` agrees with the active model on ${pct(clicks.shadow?.agreement ?? null)} of clicks, ${pct(conversions.shadow?.agreement ?? null)} of conversions.`
        : ''),
    '',
  ];
  for (const [side, r] of [
    ['Clicks', clicks],
    ['Conversions (engine outcome)', conversions],
  ] as const) {
    lines.push(`### ${side}: reason codes`, '', '| code | category | fired on | precision | recall |', '|---|---|---|---|---|');
    for (const s of r.reasons) {
      lines.push(
        `| \`${s.code}\` | ${isReasonCode(s.code) ? REASON_CODES[s.code].category : ''} | ${s.fired} | ${pct(s.precision)} | ${pct(s.recall)} |`,
      );
    }
    lines.push('', `### ${side}: caught by pattern`, '', '| pattern | label | events | flagged |', '|---|---|---|---|');
    for (const p of r.patterns) lines.push(`| ${p.pattern} | ${p.label} | ${p.events} | ${pct(p.flagged)} |`);
    lines.push('');
  }
  const silent = report.reasonCodes.filter((c) => c.clicks === 0 || c.conversions === 0);
  lines.push(
    '### Every reason code',
    '',
    "Events each code of the catalogue fired on, labelled or not (conversions: at once, at a hold's expiry or on feedback; – where a code does not apply).",
    '',
    '| code | category | clicks | conversions |',
    '|---|---|---|---|',
    ...report.reasonCodes.map(
      (c) =>
        `| \`${c.code}\` | ${REASON_CODES[c.code as keyof typeof REASON_CODES].category} | ${c.clicks ?? '–'} | ${c.conversions ?? '–'} |`,
    ),
    '',
    silent.length
      ? `Never fired here: ${silent.map((c) => `\`${c.code}\` (${c.clicks === 0 ? 'clicks' : ''}${c.clicks === 0 && c.conversions === 0 ? ', ' : ''}${c.conversions === 0 ? 'conversions' : ''})`).join(', ')}.`
      : 'Every reason code fired on every side it applies to.',
    '',
  );
  return lines.join('\n');
}

/** Feedback ids a file used more than once, when it did: a repeat is applied once, an id on another conversion is a feedback there. */
function feedbackIds(summary: OfflineSummary): string {
  const notes = [
    summary.feedbackRepeated ? `${summary.feedbackRepeated} repeated on its conversion, applied once` : '',
    summary.feedbackIdsReused ? `${summary.feedbackIdsReused} with an id used before on another conversion, applied there` : '',
  ].filter(Boolean);
  return notes.length ? ` (${notes.join('; ')})` : '';
}
