import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { loadConfig } from '@app/config';
import { Command } from 'commander';
import { ScoringEngine } from '@app/decisions';
import { EvaluationCollector, OfflineRunner } from '@app/evaluation';
import { readNdjson } from '@app/ingest';
import { ModelRuntime } from '@app/model';
import { DEFAULT_RULESET, resolveRuleSet } from '@app/rules';
import { evaluationMarkdown } from '../output/evaluation-markdown';

export function evaluateCommand(): Command {
  return new Command('evaluate')
    .description('replay a labelled NDJSON file through the scoring pipeline and measure it against the labels')
    .requiredOption('--events <file>', 'NDJSON traffic with `label` on clicks and conversions (e.g. from `arbiter simulate`)')
    .option('--ruleset <file>', 'a rule set JSON ({"version": …, "rules": …}) instead of the built-in one')
    .option(
      '--model <file>',
      'score with this model (model.json) as the active one (default: ARBITER_DEFAULT_MODEL, what a scorer uses out of the box; `none`: rules only)',
    )
    .option('--shadow <file>', 'also score with this candidate model, without deciding, and compare')
    .option('--json', 'print one JSON object')
    .option('--markdown <file>', 'also write the tables as Markdown')
    .action(async (o: { events: string; ruleset?: string; model?: string; shadow?: string; json?: boolean; markdown?: string }) => {
      const ruleset = o.ruleset ? resolveRuleSet(JSON.parse(readFileSync(o.ruleset, 'utf8'))) : DEFAULT_RULESET;
      const config = loadConfig(process.env);
      // The engine's own floors decide whether the model may reject alone, as in the scorer.
      const engine = new ScoringEngine(ruleset, {
        modelFloors: { minPrecision: config.MODEL_MIN_PRECISION, maxFalsePositiveRate: config.MODEL_MAX_FALSE_POSITIVE_RATE },
      });
      const modelPath = o.model ?? config.ARBITER_DEFAULT_MODEL;
      if (o.model && o.model !== 'none' && !existsSync(o.model)) throw new Error(`--model ${o.model}: no such file`);
      const model = modelPath && modelPath !== 'none' && existsSync(modelPath) ? ModelRuntime.fromFile(modelPath) : null;
      const shadow = o.shadow ? ModelRuntime.fromFile(o.shadow) : null;
      engine.useModels(model, shadow);
      const runner = new OfflineRunner(engine);
      const collector = new EvaluationCollector();
      const invalid: string[] = [];
      const started = performance.now();
      const summary = await runner.run(readNdjson(o.events), {
        verdict: (v, t) => collector.verdict(v, t),
        decision: (d, t) => collector.decision(d, t),
        revision: (d) => collector.revision(d),
        invalidLine: (_, message) => invalid.length < 10 && invalid.push(message),
      });
      const report = collector.report();
      const modelInfo = model
        ? {
            version: model.version,
            authority: engine.modelAuthority,
            thresholds: model.artifact.thresholds,
            featureImportance: model.artifact.card.featureImportance,
          }
        : null;
      const result = {
        // What honest traffic pays first: the share of legitimate events the engine acted against.
        falsePositiveRates: {
          clicksInvalid: report.clicks.invalid.falsePositiveRate,
          clicksFlagged: report.clicks.flagged.falsePositiveRate,
          conversionsRejectedAtOnce: report.conversions.atDecision.falsePositiveRate,
          conversionsHeldOrRejectedAtOnce: report.conversions.heldOrRejected.falsePositiveRate,
          conversionsRejectedEngine: report.conversions.engine.falsePositiveRate,
          conversionsRejectedFinally: report.conversions.final.falsePositiveRate,
        },
        file: o.events,
        ruleset: ruleset.version,
        model: modelInfo,
        shadow: shadow?.version ?? null,
        seconds: Math.round(performance.now() - started) / 1000,
        events: summary,
        invalidLines: invalid,
        ...report,
      };
      if (o.markdown)
        writeFileSync(
          o.markdown,
          evaluationMarkdown(report, {
            file: o.events,
            summary,
            ruleset: ruleset.version,
            model: model?.version ?? null,
            authority: engine.modelAuthority,
          }),
        );
      if (o.json || !process.stdout.isTTY) process.stdout.write(`${JSON.stringify(result)}\n`);
      else
        process.stdout.write(
          `${evaluationMarkdown(report, { file: o.events, summary, ruleset: ruleset.version, model: model?.version ?? null, authority: engine.modelAuthority })}\n`,
        );
    });
}
