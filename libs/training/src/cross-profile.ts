import { ScoringEngine } from '@app/decisions';
import { EvaluationCollector, EvaluationReport, OfflineRunner } from '@app/evaluation';
import { CrossProfileFigures, ModelArtifact, ModelFloors, ModelRuntime } from '@app/model';
import { DEFAULT_RULESET } from '@app/rules';
import type { LabelledEvents } from './train-model';

/**
 * Replays each profile's labelled events with the model as the active one (authority as `floors`
 * give it) and measures it on the legitimate traffic: what the model would cost another network.
 */
export async function crossProfile(
  artifact: ModelArtifact,
  profiles: readonly { profile: string; events: LabelledEvents }[],
  floors: ModelFloors,
  log?: (line: string) => void,
): Promise<CrossProfileFigures[]> {
  const figures: CrossProfileFigures[] = [];
  for (const { profile, events } of profiles) {
    const engine = new ScoringEngine(DEFAULT_RULESET, { modelFloors: floors });
    engine.useModels(new ModelRuntime(artifact));
    const collector = new EvaluationCollector();
    await new OfflineRunner(engine).run(events, {
      verdict: (v, t) => collector.verdict(v, t),
      decision: (d, t) => collector.decision(d, t),
      revision: (d) => collector.revision(d),
    });
    const report = collector.report();
    figures.push({
      profile,
      legitClicks: report.clicks.legit,
      legitConversions: report.conversions.legit,
      clicksFlagged: modelOnLegit(report.clicks),
      clicksInvalid: report.clicks.invalid.falsePositiveRate,
      conversionsFlagged: modelOnLegit(report.conversions),
      conversionsHeld: report.conversions.heldOrRejected.falsePositiveRate,
      conversionsRejected: report.conversions.engine.falsePositiveRate,
    });
    log?.(JSON.stringify(figures.at(-1)));
  }
  return figures;
}

/** Share of legitimate events MODEL_RISK fired on. */
function modelOnLegit(side: EvaluationReport['clicks'] | EvaluationReport['conversions']): number | null {
  const r = side.reasons.find((x) => x.code === 'MODEL_RISK');
  if (!side.legit) return null;
  if (!r || r.precision === null) return 0;
  return Math.round(((r.fired - Math.round(r.fired * r.precision)) / side.legit) * 10_000) / 10_000;
}
