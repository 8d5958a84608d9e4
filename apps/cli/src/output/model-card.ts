import type { ModelArtifact } from '@app/model';

const pct = (x: unknown) => (typeof x === 'number' ? `${(x * 100).toFixed(1)} %` : '–');
const num = (x: unknown) => (typeof x === 'number' ? x.toFixed(4) : '–');

/** The model card written next to model.json: what it was trained on, how it did, what it looks at. */
export function modelCardMarkdown(m: ModelArtifact): string {
  const c = m.card;
  const v = (c.validation ?? {}) as Record<string, any>;
  const lines = [
    `# Model \`${m.version}\``,
    '',
    `Two random forests (ml-random-forest): one scores clicks, one conversions. Trained ${c.trainedAt} on \`${c.source}\` in ${c.trainingSeconds} s.`,
    '',
    '## Training data',
    '',
    '| | fraud | legitimate | rows per forest sample |',
    '|---|---|---|---|',
    `| clicks | ${c.rows.clicks.fraud} | ${c.rows.clicks.legit} | ${c.sampledPerForest.clicks} |`,
    `| conversions | ${c.rows.conversions.fraud} | ${c.rows.conversions.legit} | ${c.sampledPerForest.conversions} |`,
    '',
    `Options: \`${JSON.stringify(c.options)}\``,
    '',
    '## Held-out evaluation',
    '',
    `The latest ${pct((c.options as { validationShare?: number }).validationShare)} of labelled events (by time), not used for training. MODEL_RISK fires from the threshold below,`,
    'the lowest at which rules and model together keep the required precision.',
    '',
    '| | ROC-AUC rules | ROC-AUC model | PR-AUC rules | PR-AUC model | threshold | rules: precision / recall | rules + model: precision / recall |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const side of ['click', 'conversion'] as const) {
    const r = v[side];
    if (!r) continue;
    lines.push(
      `| ${side}s (${r.rows} held out, ${r.fraud} fraud) | ${num(r.rocAuc.rules)} | ${num(r.rocAuc.model)} | ${num(r.prAuc.rules)} | ${num(r.prAuc.model)} | ${num(r.threshold)} |` +
        ` ${pct(r.rulesOnly.precision)} / ${pct(r.rulesOnly.recall)} | ${pct(r.rulesAndModel.precision)} / ${pct(r.rulesAndModel.recall)} |`,
    );
  }
  for (const side of ['click', 'conversion'] as const) {
    const r = v[side];
    if (r) {
      const cm = r.rulesAndModel;
      lines.push('', `Confusion matrix, ${side}s, rules + model: TP ${cm.tp}, FP ${cm.fp}, FN ${cm.fn}, TN ${cm.tn}.`);
    }
  }
  lines.push('', '## Feature importance (mean decrease in impurity)', '');
  for (const side of ['click', 'conversion'] as const) {
    lines.push(
      `**${side}s**: ` +
        Object.entries(c.featureImportance[side])
          .slice(0, 12)
          .map(([k, w]) => `\`${k}\` ${pct(w)}`)
          .join(', '),
      '',
    );
  }
  return lines.join('\n');
}
