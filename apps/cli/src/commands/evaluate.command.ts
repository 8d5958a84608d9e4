import { readFileSync, writeFileSync } from 'node:fs';
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
    .option('--model <file>', 'score with this model (model.json) as the active one')
    .option('--shadow <file>', 'also score with this candidate model, without deciding, and compare')
    .option('--json', 'print one JSON object')
    .option('--markdown <file>', 'also write the tables as Markdown')
    .action(async (o: { events: string; ruleset?: string; model?: string; shadow?: string; json?: boolean; markdown?: string }) => {
      const ruleset = o.ruleset ? resolveRuleSet(JSON.parse(readFileSync(o.ruleset, 'utf8'))) : DEFAULT_RULESET;
      const engine = new ScoringEngine(ruleset);
      const model = o.model ? ModelRuntime.fromFile(o.model) : null;
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
        ? { version: model.version, thresholds: model.artifact.thresholds, featureImportance: model.artifact.card.featureImportance }
        : null;
      const result = {
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
          evaluationMarkdown(report, { file: o.events, summary, ruleset: ruleset.version, model: model?.version ?? null }),
        );
      if (o.json || !process.stdout.isTTY) process.stdout.write(`${JSON.stringify(result)}\n`);
      else
        process.stdout.write(
          `${evaluationMarkdown(report, { file: o.events, summary, ruleset: ruleset.version, model: model?.version ?? null })}\n`,
        );
    });
}
