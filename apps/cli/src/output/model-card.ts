import { DEFAULT_MODEL_FLOORS, ModelArtifact, authorityOf } from '@app/model';

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
    '## Authority',
    '',
    c.origin === 'operator'
      ? "Trained on this network's own labels: on each side MODEL_RISK decides (rejects, invalidates) only while the held-out figures below meet the" +
        ` operator's floors (\`MODEL_MIN_PRECISION\`, \`MODEL_MAX_FALSE_POSITIVE_RATE\`; defaults ${pct(DEFAULT_MODEL_FLOORS.minPrecision)} / ${pct(DEFAULT_MODEL_FLOORS.maxFalsePositiveRate)}); otherwise it is advisory.`
      : 'Trained on simulated traffic, not on the labels of the network it runs in: **advisory** everywhere. On its own MODEL_RISK holds a conversion' +
        ' for review or flags a click, it never rejects or invalidates; the rules decide.',
    '',
    '| side | forest | MODEL_RISK alone on held-out data: precision / false-positive rate | with the default floors |',
    '|---|---|---|---|',
    ...(['click', 'conversion'] as const).map((side) => {
      const f = c.forests?.[side] ?? { source: 'trained' };
      const forest =
        f.source === 'kept' ? `kept from \`${f.from}\` (no labels for this side)` : f.source === 'none' ? 'none (no labels)' : 'trained';
      const h = c.heldOut?.[side];
      const figures = h ? `${pct(h.precision)} / ${pct(h.falsePositiveRate)} (${h.rows} rows, ${h.legit} legitimate)` : '–';
      return `| ${side}s | ${forest} | ${figures} | ${authorityOf(m, side, DEFAULT_MODEL_FLOORS).authority} |`;
    }),
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
  if (c.crossProfile?.length) {
    lines.push(
      '',
      '## Legitimate traffic of other simulator profiles',
      '',
      'Files it never saw (other profiles, or other seeds of its training profiles as marked). Share of legitimate events, with this',
      'model active under the default floors and the built-in rule set. "MODEL_RISK fired" is what an analyst would see flagged for',
      'review; "invalid" and "rejected" are what the engine decided (after hold timers).',
      '',
      '| profile | legitimate clicks | MODEL_RISK fired | invalid | legitimate conversions | MODEL_RISK fired | held at first | rejected |',
      '|---|---|---|---|---|---|---|---|',
      ...c.crossProfile.map(
        (p) =>
          `| ${p.profile} | ${p.legitClicks} | ${pct(p.clicksFlagged)} | ${pct(p.clicksInvalid)} | ${p.legitConversions} | ${pct(p.conversionsFlagged)} | ${pct(p.conversionsHeld)} | ${pct(p.conversionsRejected)} |`,
      ),
    );
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
