import { QueryBuilder, RuleBuilder } from '@grafana/grafana-foundation-sdk/alerting';
import type { Builder, Dataquery } from '@grafana/grafana-foundation-sdk/cog';
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { TypeReduceBuilder, TypeThresholdBuilder } from '@grafana/grafana-foundation-sdk/expr';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import { DASHBOARD_UIDS, EXPRESSIONS, PROMETHEUS, TIMESCALEDB } from './datasources';
import {
  FIRST_REFRESH_GRACE_SECONDS,
  LATENCY_TARGET_SECONDS,
  ROLLUP_LAG_MARGIN_SECONDS,
  ROLLUP_LAG_OVER_BOUND_EXPR,
} from './engine-health';
import { newestStored } from './sql';
import { tableSql } from './sql-target';

/** Where the rules live in Grafana: the same folder as the dashboards. */
export const ALERT_FOLDER = 'Arbiter';

/**
 * Thresholds of the alert rules. A jump is in rate points: 0.2 is a publisher going from 5 % to
 * 25 % invalid. The minimum volumes keep a handful of events from paging anyone.
 */
export const ALERT_THRESHOLDS = {
  fraudRateJump: 0.2,
  fraudRecentHours: 2,
  fraudBaselineDays: 7,
  minRecentClicks: 50,
  minRecentConversions: 10,
  ingestionStalledSeconds: 600,
  holdQueueGrowthPerHour: 100,
  enforcementRecentMinutes: 15,
  latencyP99Seconds: LATENCY_TARGET_SECONDS,
  /**
   * Minutes a scorer's selected model stays unloaded (arbiter_model_load_failing{side,loader} = 1, a state the
   * watcher holds from a failed load until one succeeds or the selection changes; the API's from a
   * backtest's failed load until its background retry, 1 s doubling to 60 s, loads one) before the alert fires: a model selected shortly before its artifact reaches the store loads within the first
   * retries (1 s doubling to 60 s) and never pages; it resolves at the first evaluation after it loads.
   */
  modelNotLoadedMinutes: 5,
  /** Seconds a recorder's rollups may be behind past the bound its configuration exports (arbiter_rollups_lag_bound_seconds). */
  rollupLagMarginSeconds: ROLLUP_LAG_MARGIN_SECONDS,
  /**
   * The window of the deferral counter: at least 3 scrapes at a 1-minute interval and 6 refresh ticks
   * (ROLLUP_REFRESH_SECONDS, 30 by default), which a backlog defers except for the refresh it lets
   * through every ROLLUP_BACKLOG_REFRESH_SECONDS (120): the condition holds while deferrals go on and
   * for at most 3 minutes after they stop (a window of the counter, not a state), so with `for: 30m` the alert fires after about 30 minutes of deferrals
   * and resolves within about 3 minutes of the backlog draining.
   */
  deferralWindowMinutes: 3,
};
const T = ALERT_THRESHOLDS;

/**
 * Per publisher and measure: the rate over the last hours minus the rate over the baseline days
 * before them. Rows are labelled by publisher and measure; Grafana alerts per row.
 */
export const FRAUD_RATE_JUMP_SQL = `
  WITH split AS (SELECT $__timeTo()::timestamptz - interval '${T.fraudRecentHours} hours' AS at),
  c AS (
    SELECT publisher_id,
           sum(clicks) FILTER (WHERE bucket + interval '1 hour' > split.at)::float8 AS recent,
           sum(invalid_clicks) FILTER (WHERE bucket + interval '1 hour' > split.at)::float8 AS recent_bad,
           sum(clicks) FILTER (WHERE bucket + interval '1 hour' <= split.at)::float8 AS base,
           sum(invalid_clicks) FILTER (WHERE bucket + interval '1 hour' <= split.at)::float8 AS base_bad
      FROM kpi_clicks_hourly, split
     WHERE $__timeFilter(bucket)
     GROUP BY publisher_id
  ), v AS (
    SELECT publisher_id,
           sum(conversions) FILTER (WHERE bucket + interval '1 hour' > split.at)::float8 AS recent,
           sum(rejected) FILTER (WHERE bucket + interval '1 hour' > split.at)::float8 AS recent_bad,
           sum(conversions) FILTER (WHERE bucket + interval '1 hour' <= split.at)::float8 AS base,
           sum(rejected) FILTER (WHERE bucket + interval '1 hour' <= split.at)::float8 AS base_bad
      FROM kpi_conversions_hourly, split
     WHERE $__timeFilter(bucket) AND publisher_id IS NOT NULL
     GROUP BY publisher_id
  )
  SELECT publisher_id, 'invalid click rate' AS measure, recent_bad / recent - coalesce(base_bad / nullif(base, 0), 0) AS jump
    FROM c WHERE recent >= ${T.minRecentClicks}
  UNION ALL
  SELECT publisher_id, 'conversion rejection rate', recent_bad / recent - coalesce(base_bad / nullif(base, 0), 0)
    FROM v WHERE recent >= ${T.minRecentConversions}`;

/** Seconds since the newest stored click or conversion arrived (a huge number when none did for a day). */
export const INGESTION_STALLED_SQL = `
  SELECT coalesce(extract(epoch FROM now() - greatest(${newestStored('click')}, ${newestStored('conversion')}))::float8, 1e9)
         AS seconds_since_last_event`;

/**
 * Net growth of the hold queue over the last hour: holds opened (decisions first made `hold`)
 * minus holds closed (their transition out of `hold`).
 */
export const HOLD_QUEUE_GROWTH_SQL = `
  WITH since AS (SELECT $__timeTo()::timestamptz - interval '1 hour' AS at)
  SELECT ((SELECT count(*) FROM decisions, since WHERE status = 'hold' AND ts >= since.at)
        + (SELECT count(*) FROM decision_transitions x JOIN decisions d ON d.conversion_id = x.conversion_id, since
            WHERE x.from_status = 'hold' AND x.decided_at >= since.at AND d.ts >= since.at)
        - (SELECT count(*) FROM decision_transitions x, since WHERE x.from_status = 'hold' AND x.decided_at >= since.at)
         )::float8 AS hold_queue_growth`;

/** Enforcement blocks made in the last minutes (lifted ones included: they were made). */
export const ENFORCEMENT_BLOCKS_MADE_SQL = `
  SELECT count(*)::float8 AS blocks_made
    FROM jsonb_array_elements(coalesce((SELECT config->'blocks' FROM ruleset_versions ORDER BY version DESC LIMIT 1), '[]'::jsonb)) b
   WHERE (b->>'createdAt')::timestamptz > $__timeTo()::timestamptz - interval '${T.enforcementRecentMinutes} minutes'`;

interface RuleSpec {
  uid: string;
  title: string;
  query: { datasourceUid: string; model: Builder<Dataquery>; seconds: number };
  above: number;
  for: string;
  noData: 'OK' | 'Alerting' | 'NoData';
  labels: Record<string, string>;
  summary: string;
  description: string;
  panel: { dashboardUid: string; title: string };
}

const sqlModel = (sql: string) => {
  const target = tableSql(sql);
  return { build: () => ({ ...target.build(), intervalMs: 60_000, maxDataPoints: 43_200 }) } as Builder<Dataquery>;
};
const promModel = (expr: string) =>
  new DataqueryBuilder().expr(expr).instant().refId('A').datasource(PROMETHEUS).intervalMs(60_000).maxDataPoints(43_200);

const RULES: RuleSpec[] = [
  {
    uid: 'arbiter-publisher-fraud-jump',
    title: 'Publisher fraud rate jumped',
    query: { datasourceUid: TIMESCALEDB.uid, model: sqlModel(FRAUD_RATE_JUMP_SQL), seconds: T.fraudBaselineDays * 86_400 },
    above: T.fraudRateJump,
    for: '15m',
    noData: 'OK',
    labels: { severity: 'warning', team: 'risk' },
    summary: 'Publisher {{ $labels.publisher_id }}: {{ $labels.measure }} up {{ humanizePercentage $values.B.Value }}',
    description: `Over the last ${T.fraudRecentHours} h the {{ $labels.measure }} of publisher {{ $labels.publisher_id }} is ${T.fraudRateJump * 100} points or more above its previous ${T.fraudBaselineDays} days. Check its sub-ids and reason codes on the Partner value dashboard.`,
    panel: { dashboardUid: DASHBOARD_UIDS.riskOverview, title: 'Riskiest publishers' },
  },
  {
    uid: 'arbiter-ingestion-stalled',
    title: 'Ingestion stalled',
    query: { datasourceUid: TIMESCALEDB.uid, model: sqlModel(INGESTION_STALLED_SQL), seconds: 600 },
    above: T.ingestionStalledSeconds,
    for: '5m',
    noData: 'Alerting',
    labels: { severity: 'critical', team: 'ops' },
    summary: 'No click or conversion stored for {{ humanizeDuration $values.B.Value }}',
    description:
      'The recorder has stored no click or conversion for over 10 minutes. Check the gateway (events in), the recorder’s consumer lag and the database on the Engine health dashboard.',
    panel: { dashboardUid: DASHBOARD_UIDS.engineHealth, title: 'Since last event stored' },
  },
  {
    uid: 'arbiter-hold-queue-growing',
    title: 'Hold queue growing',
    query: { datasourceUid: TIMESCALEDB.uid, model: sqlModel(HOLD_QUEUE_GROWTH_SQL), seconds: 3600 },
    above: T.holdQueueGrowthPerHour,
    for: '30m',
    noData: 'OK',
    labels: { severity: 'warning', team: 'risk' },
    summary: 'The hold queue grew by {{ $values.B.Value }} in the last hour',
    description: `More than ${T.holdQueueGrowthPerHour} conversions a hour go on hold than leave it. Review the queue (GET /v1/review/queue) and check for overdue holds on the Risk overview.`,
    panel: { dashboardUid: DASHBOARD_UIDS.riskOverview, title: 'Hold queue size' },
  },
  {
    uid: 'arbiter-enforcement-block',
    title: 'Publisher blocked by enforcement',
    query: { datasourceUid: TIMESCALEDB.uid, model: sqlModel(ENFORCEMENT_BLOCKS_MADE_SQL), seconds: T.enforcementRecentMinutes * 60 },
    above: 0,
    for: '0s',
    noData: 'OK',
    labels: { severity: 'warning', team: 'risk' },
    summary: '{{ $values.B.Value }} enforcement block(s) made in the last ' + `${T.enforcementRecentMinutes} minutes`,
    description:
      'An enforcement policy of the rule sets blocked a publisher or sub-id (its invalid-click or rejection rate exceeded the policy over enough traffic). The Enforcement blocks table on the Risk overview lists each with its evidence; GET /v1/admin/enforcement/blocks has the same, and POST /v1/admin/enforcement/blocks/{id}/lift lifts one (audited).',
    panel: { dashboardUid: DASHBOARD_UIDS.riskOverview, title: 'Enforcement blocks' },
  },
  {
    uid: 'arbiter-dlq-not-empty',
    title: 'Dead letters waiting',
    // Every service exports the depth it reads from JetStream: the same number, hence max.
    query: { datasourceUid: PROMETHEUS.uid, model: promModel('max by (stream) (arbiter_dead_letters)'), seconds: 300 },
    above: 0,
    for: '0s',
    noData: 'OK',
    labels: { severity: 'critical', team: 'ops' },
    summary: '{{ $values.B.Value }} dead letters waiting in the {{ $labels.stream }} stream',
    description:
      'Messages that could not be processed wait in the {{ $labels.stream }} stream, each with its error in headers. DLQ holds poison events and verdicts (arbiter.dlq.<consumer>); WEBHOOK_DLQ holds webhook and partner-postback deliveries that failed every attempt (arbiter.webhook-dlq.<owner>). List them with `arbiter dlq list` (GET /v1/admin/dead-letters), fix the cause, then `arbiter dlq replay` (POST /v1/admin/dead-letters/replay; for webhooks POST /v1/admin/webhooks/replay also un-parks the endpoint) hands them back, audited. The alert resolves when both streams are empty.',
    panel: { dashboardUid: DASHBOARD_UIDS.engineHealth, title: 'Dead letters waiting' },
  },
  {
    uid: 'arbiter-consumer-degraded',
    title: 'Consumer degraded',
    query: { datasourceUid: PROMETHEUS.uid, model: promModel('max by (consumer) (arbiter_consumer_degraded)'), seconds: 300 },
    above: 0,
    for: '5m',
    noData: 'OK',
    labels: { severity: 'critical', team: 'ops' },
    summary: 'Consumer {{ $labels.consumer }} keeps failing for a cause that is not its messages',
    description:
      'The {{ $labels.consumer }} consumer has retried its messages for 5 minutes because of the database, the broker or the configuration (not the messages: nothing is dead-lettered, its backlog grows). /health on its service names the cause; "Messages kept for a retry, by cause" on Engine health shows which. It recovers by itself once the cause is fixed.',
    panel: { dashboardUid: DASHBOARD_UIDS.engineHealth, title: 'Consumers degraded' },
  },
  {
    uid: 'arbiter-stream-nearly-full',
    title: 'EVENTS or VERDICTS nearly full',
    // Every recorder exports the fill it read: the same number, hence max.
    query: { datasourceUid: PROMETHEUS.uid, model: promModel('max by (stream) (arbiter_stream_fill_ratio)'), seconds: 300 },
    above: 0.95,
    for: '1m',
    noData: 'OK',
    labels: { severity: 'critical', team: 'ops' },
    summary: 'The {{ $labels.stream }} stream is {{ humanizePercentage $values.B.Value }} full',
    description:
      'EVENTS and VERDICTS refuse publishes when full (ingest answers 503, scorers nak). The recorders trim what every durable consumer acknowledged above 90 %; above 95 % something keeps them from it: "Trimming blocked by" on Engine health and the recorder\'s /health name the durable (a stale or forgotten one, a service not started, a consumer far behind). docs/trust.md "When a stream is full" says what to do.',
    panel: { dashboardUid: DASHBOARD_UIDS.engineHealth, title: 'Streams full' },
  },
  {
    uid: 'arbiter-stream-trim-blocked',
    title: 'Stream trimming blocked',
    query: {
      datasourceUid: PROMETHEUS.uid,
      model: promModel('max by (stream, consumer) (arbiter_stream_trim_blocked)'),
      seconds: 300,
    },
    above: 0,
    for: '5m',
    noData: 'OK',
    labels: { severity: 'warning', team: 'ops' },
    summary: 'Durable {{ $labels.consumer }} keeps {{ $labels.stream }} from being trimmed',
    description:
      'The durable consumer {{ $labels.consumer }} has not acknowledged {{ $values.B.Value }} messages of the nearly full {{ $labels.stream }} stream (or does not exist yet, or its state cannot be read). Once the stream is full, ingest is refused. Delete it if nothing reads it (nats consumer rm); start the service that creates it; or see why it is behind (docs/trust.md "When a stream is full").',
    panel: { dashboardUid: DASHBOARD_UIDS.engineHealth, title: 'Trimming blocked by' },
  },
  ...(['active', 'shadow'] as const).map((side): RuleSpec => ({
    uid: `arbiter-model-${side}-not-loaded`,
    title: `Selected ${side} model not loaded`,
    query: {
      datasourceUid: PROMETHEUS.uid,
      // A state, not a window of the failure counter: a window stays true for its length after the
      // last failure, so a model that loaded after a minute of retries paged minutes later.
      // The scorers decide with it; the API's loads (backtests only) warn on their own (arbiter-model-api-not-loaded).
      model: promModel(`max(arbiter_model_load_failing{side="${side}",loader="scorer"})`),
      seconds: 300,
    },
    above: 0,
    for: `${T.modelNotLoadedMinutes}m`,
    noData: 'OK',
    labels: { severity: side === 'active' ? 'critical' : 'warning', team: 'ops' },
    summary: `A scorer has not loaded the selected ${side} model for ${T.modelNotLoadedMinutes} minutes`,
    description:
      side === 'active'
        ? 'A scorer cannot load the active model selected in PUT /v1/admin/models/selection and keeps retrying (1 s doubling to 60 s): it decides with the model it had, or with rules only if it started meanwhile, and its /health says degraded (`model active`); its log names the version and why (`could not load the selected active model`). Why: missing from the object store, made for another model format, or the store unreadable. "Models running" on Engine health shows what each scorer runs. Publish the model again (`npx arbiter model publish`) or select one that loads; the alert resolves once every scorer has loaded it (or another model is selected).'
        : 'A scorer cannot load the shadow model selected in PUT /v1/admin/models/selection and keeps retrying (1 s doubling to 60 s): the candidate is not being scored beside the active model, so its shadow figures stop growing (decisions are not affected). Its log names the version and why (`could not load the selected shadow model`). Publish it again or select another shadow.',
    panel: { dashboardUid: DASHBOARD_UIDS.engineHealth, title: 'Model load failures' },
  })),
  {
    uid: 'arbiter-model-api-not-loaded',
    title: 'API cannot load the active model (backtests refused)',
    query: {
      datasourceUid: PROMETHEUS.uid,
      model: promModel('max(arbiter_model_load_failing{side="active",loader="api"})'),
      seconds: 300,
    },
    above: 0,
    for: `${T.modelNotLoadedMinutes}m`,
    noData: 'OK',
    // Only backtests need it: decisions are the scorers' (arbiter-model-active-not-loaded pages for them).
    labels: { severity: 'warning', team: 'ops' },
    summary: `The API has not loaded the active model for ${T.modelNotLoadedMinutes} minutes: backtests are refused`,
    description:
      'The API cannot load the active model selected in PUT /v1/admin/models/selection, which backtests replay with: every backtest is refused (503 model_unavailable) and its /health says degraded (`model active (api)`); its log says `could not load the active model` with the version and why (missing from the object store, made for another model format, or the store unreadable). Decisions are not affected (the scorers load their own). The API retries in the background (1 s doubling to 60 s), reading the selection each time: publish the model again (`npx arbiter model publish`) or select one that loads, and the alert resolves within about a minute, with no backtest needed.',
    panel: { dashboardUid: DASHBOARD_UIDS.engineHealth, title: 'Model load failures' },
  },
  {
    uid: 'arbiter-model-versions-differ',
    title: 'Scorers run different active models',
    query: {
      datasourceUid: PROMETHEUS.uid,
      model: promModel('count(count by (version) (arbiter_model_version{side="active"} == 1))'),
      seconds: 300,
    },
    above: 1,
    for: '15m',
    noData: 'OK',
    labels: { severity: 'warning', team: 'ops' },
    summary: 'Scorers run {{ $values.B.Value }} different active models',
    description:
      'Scorers decide with different active models for 15 minutes, so the same traffic is judged differently depending on its partition. A scorer that could not load the selected model kept its old one ("Selected active model not loaded"); one whose watch of the selection ended logs `model watch ended` and needs a restart. "Models running" on Engine health shows which versions run.',
    panel: { dashboardUid: DASHBOARD_UIDS.engineHealth, title: 'Models running' },
  },
  {
    uid: 'arbiter-revisions-owed',
    title: 'Decision revisions not published',
    query: { datasourceUid: PROMETHEUS.uid, model: promModel('sum(arbiter_scorer_owed_revisions)'), seconds: 300 },
    above: 0,
    for: '5m',
    noData: 'OK',
    labels: { severity: 'critical', team: 'ops' },
    summary: '{{ $values.B.Value }} decision revisions owed to VERDICTS',
    description:
      'Scorers made decision revisions (holds that expired, advertiser feedback) and have not been able to publish them to VERDICTS for 5 minutes: they are not stored, and neither the advertiser’s webhook nor the publisher’s postback has heard of them. The hold timer keeps them and retries (after 2 ticks, doubling to a minute); the scorer’s /health says degraded (`scorer hold timer`) with the error. Usually VERDICTS is full ("EVENTS or VERDICTS nearly full", "Trimming blocked by") or NATS is unreachable. Nothing is lost if the scorer stops meanwhile: the hold is still open in the database and the feedback unacknowledged, and the next scorer takes them. Resolves when they are published.',
    panel: { dashboardUid: DASHBOARD_UIDS.engineHealth, title: 'Revisions owed to VERDICTS' },
  },
  {
    uid: 'arbiter-rollups-lagging',
    title: 'KPI rollups lagging',
    query: { datasourceUid: PROMETHEUS.uid, model: promModel(ROLLUP_LAG_OVER_BOUND_EXPR), seconds: 300 },
    above: T.rollupLagMarginSeconds,
    for: '5m',
    noData: 'OK',
    labels: { severity: 'warning', team: 'ops' },
    summary: 'The KPI rollups are {{ humanizeDuration $values.B.Value }} further behind than the recorders allow',
    description: `A recorder has not brought the KPI rollups up to date for more than ${T.rollupLagMarginSeconds} s past the bound its own configuration allows (\`arbiter_rollups_lag_bound_seconds\`: ROLLUP_BACKLOG_REFRESH_SECONDS, at least a tick, plus a ROLLUP_REFRESH_SECONDS tick; 150 s at the defaults): the API's stats, the dashboards and the "Publisher fraud rate jumped" alert undercount recent traffic (nothing is double-counted). Its refreshes fail (its log says \`rollup refresh failed; will retry\`, usually the database) or take very long; a recorder whose refreshes have failed since it started is behind since its start. Its first refresh since start (the startup window and any history a migration asked to rebuild) is left alone for ${FIRST_REFRESH_GRACE_SECONDS / 60} minutes. Readers catch up at the next successful refresh. A recorder with ROLLUP_REFRESH_SECONDS=0 (TimescaleDB's policies only) does not report the gauges and is not watched.`,
    panel: { dashboardUid: DASHBOARD_UIDS.engineHealth, title: 'KPI rollups behind' },
  },
  {
    uid: 'arbiter-rollup-refreshes-deferred',
    title: 'Recorders draining a backlog',
    query: {
      datasourceUid: PROMETHEUS.uid,
      model: promModel(`sum(increase(arbiter_rollup_refreshes_deferred_total[${T.deferralWindowMinutes}m]))`),
      seconds: T.deferralWindowMinutes * 60,
    },
    above: 0,
    for: '30m',
    noData: 'OK',
    labels: { severity: 'warning', team: 'ops' },
    summary: '{{ $values.B.Value }} rollup refreshes deferred in the last ' + `${T.deferralWindowMinutes} minutes`,
    description:
      'For over half an hour the recorders have been deferring routine rollup refreshes because they are draining a backlog (TimescaleDB): they are not keeping up with EVENTS and VERDICTS, and the rollups run up to ROLLUP_BACKLOG_REFRESH_SECONDS behind meanwhile. Check Consumer lag and Rows written on Engine health, the database, and RECORDER_CONCURRENCY / RECORDER_BATCH; a backlog that keeps growing ends in a full stream ("EVENTS or VERDICTS nearly full").',
    panel: { dashboardUid: DASHBOARD_UIDS.engineHealth, title: 'Rollup refreshes deferred' },
  },
  {
    uid: 'arbiter-decision-latency',
    title: 'Decision latency above target',
    query: {
      datasourceUid: PROMETHEUS.uid,
      model: promModel('histogram_quantile(0.99, sum by (le) (rate(arbiter_decision_latency_seconds_bucket[5m])))'),
      seconds: 300,
    },
    above: T.latencyP99Seconds,
    for: '10m',
    noData: 'OK',
    labels: { severity: 'warning', team: 'ops' },
    summary: 'Decision latency p99 is {{ humanizeDuration $values.B.Value }}',
    description:
      'The 99th percentile from event receipt to verdict or decision is above 50 ms (DESIGN §10). Look at consumer lag and CPU on Engine health.',
    panel: { dashboardUid: DASHBOARD_UIDS.engineHealth, title: 'Decision latency' },
  },
];

/** A rule as the SDK builds it: query A, B = last value of A, C = B above the threshold. */
function build(spec: RuleSpec) {
  const range = { from: spec.query.seconds, to: 0 };
  return new RuleBuilder(spec.title)
    .uid(spec.uid)
    .condition('C')
    .withQuery(new QueryBuilder('A').datasourceUid(spec.query.datasourceUid).relativeTimeRange(range).model(spec.query.model))
    .withQuery(
      new QueryBuilder('B')
        .datasourceUid(EXPRESSIONS.uid)
        .relativeTimeRange(range)
        .model(new TypeReduceBuilder().refId('B').datasource(EXPRESSIONS).expression('A').reducer('last').settings({ mode: 'dropNN' })),
    )
    .withQuery(
      new QueryBuilder('C')
        .datasourceUid(EXPRESSIONS.uid)
        .relativeTimeRange(range)
        .model(
          new TypeThresholdBuilder()
            .refId('C')
            .datasource(EXPRESSIONS)
            .expression('B')
            .conditions([{ evaluator: { type: 'gt', params: [spec.above] } }]),
        ),
    )
    .forDuration(spec.for)
    .noDataState(spec.noData)
    .execErrState('Error')
    .labels(spec.labels)
    .annotations({ summary: spec.summary, description: spec.description })
    .build();
}

/**
 * The alert rules in Grafana's file-provisioning format (`provisioning/alerting/*.yaml`), each
 * linked to the dashboard panel that explains it.
 */
export function alertRules(dashboards: Dashboard[]) {
  const rules = RULES.map((spec) => {
    const rule = JSON.parse(JSON.stringify(build(spec)));
    const dashboard = dashboards.find((d) => d.uid === spec.panel.dashboardUid);
    const panel = dashboard?.panels?.find((p) => p.title === spec.panel.title);
    if (!dashboard || !panel) throw new Error(`alert ${spec.uid}: no panel "${spec.panel.title}" on ${spec.panel.dashboardUid}`);
    return {
      uid: rule.uid,
      title: rule.title,
      condition: rule.condition,
      data: rule.data,
      dashboardUid: dashboard.uid,
      panelId: (panel as { id: number }).id,
      noDataState: rule.noDataState,
      execErrState: rule.execErrState,
      for: rule.for,
      labels: rule.labels,
      annotations: rule.annotations,
      isPaused: false,
    };
  });
  return { apiVersion: 1, groups: [{ orgId: 1, name: 'arbiter', folder: ALERT_FOLDER, interval: '1m', rules }] };
}
