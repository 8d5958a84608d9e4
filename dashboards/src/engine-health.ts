import { GraphThresholdsStyleConfigBuilder, GraphThresholdsStyleMode } from '@grafana/grafana-foundation-sdk/common';
import { Dashboard, DashboardBuilder, DashboardCursorSync, MappingType, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import { DASHBOARD_UIDS, PROMETHEUS } from './datasources';
import { arbiterLinks, finish, seriesPanel, statPanel, tablePanel } from './panels';
import { tableSql } from './sql-target';
import { FRESHNESS, newestStored } from './sql';

/**
 * PromQL over the metrics the services export (`libs/observability/src/metrics.ts`); the scrape
 * configuration (`dashboards/prometheus/prometheus.yml`) labels each target with its `service`.
 */
const prom = (expr: string, legend: string, refId = 'A') =>
  new DataqueryBuilder().expr(expr).legendFormat(legend).range().refId(refId).datasource(PROMETHEUS);
const promNow = (expr: string, legend: string) =>
  new DataqueryBuilder().expr(expr).legendFormat(legend).instant().refId('A').datasource(PROMETHEUS);

const rate = (metric: string, by: string, selector = '') => `sum by (${by}) (rate(${metric}${selector}[$__rate_interval]))`;
const quantile = (q: number, metric: string, by: string) =>
  `histogram_quantile(${q}, sum by (le, ${by}) (rate(${metric}_bucket[$__rate_interval])))`;

/** DESIGN §10: decision latency p99 ≤ 50 ms at 2,000 events/s. */
export const LATENCY_TARGET_SECONDS = 0.05;

/**
 * How far behind the KPI rollups may be past what the recorder's configuration allows
 * (`arbiter_rollups_lag_bound_seconds`: ROLLUP_BACKLOG_REFRESH_SECONDS, at least a tick, plus a
 * ROLLUP_REFRESH_SECONDS tick, 150 s at the defaults) before it is a fault: margin for the refresh
 * itself and the scrape, since the timestamp gauge holds when the refresh *started*.
 */
export const ROLLUP_LAG_MARGIN_SECONDS = 150;
/**
 * How long a recorder's first refresh since its start (the startup window, and any history a
 * migration asked to rebuild) may run before its lag counts: the timestamp gauge says the recorder's
 * start meanwhile, so a rebuild of ten minutes or more paged as a lag.
 */
export const FIRST_REFRESH_GRACE_SECONDS = 3600;
/** The fleet's rollup lag: each recorder's gauge is the time its rollups hold everything it wrote up to; the oldest counts. */
export const ROLLUP_LAG_EXPR = 'time() - min(arbiter_rollups_refreshed_timestamp_seconds)';
/**
 * Seconds the most lagging recorder is behind past its own configured bound, leaving out a recorder
 * whose first refresh since start has run for less than FIRST_REFRESH_GRACE_SECONDS (the series of
 * one recorder carry the same target labels, so they match one to one).
 */
export const ROLLUP_LAG_OVER_BOUND_EXPR =
  'max((time() - arbiter_rollups_refreshed_timestamp_seconds - arbiter_rollups_lag_bound_seconds)' +
  ` unless (time() - arbiter_rollups_first_refresh_started_timestamp_seconds < ${FIRST_REFRESH_GRACE_SECONDS}))`;

/** Engine health: throughput, decision latency, consumer lag, dead letters (rate and waiting), webhooks, processes; and how fresh the stored data is. */
export function engineHealth(): Dashboard {
  const prometheus = { datasource: PROMETHEUS };
  const builder = new DashboardBuilder('Arbiter — Engine health')
    .uid(DASHBOARD_UIDS.engineHealth)
    .description('The services through their Prometheus metrics, and the freshness of what reaches the database.')
    .tags(['arbiter', 'operations'])
    .time({ from: 'now-3h', to: 'now' })
    .refresh('30s')
    .timezone('browser')
    .tooltip(DashboardCursorSync.Crosshair)
    .link(arbiterLinks())

    .withPanel(
      statPanel('Services up', promNow('up{job="arbiter"}', '{{service}}'), {
        ...prometheus,
        w: 6,
        thresholds: [
          { value: null, color: 'red' },
          { value: 1, color: 'green' },
        ],
        description: 'Prometheus’ scrape of each service’s /metrics.',
      }).mappings([
        {
          type: MappingType.ValueToText,
          options: { '0': { text: 'down', color: 'red', index: 0 }, '1': { text: 'up', color: 'green', index: 1 } },
        },
      ]),
    )
    .withPanel(
      statPanel('Events in', promNow(`sum(rate(arbiter_events_ingested_total{duplicate="false"}[5m]))`, 'events/s'), {
        ...prometheus,
        unit: 'cps',
        decimals: 0,
        w: 4,
        description: 'New events the gateway accepted per second (5-minute rate).',
      }),
    )
    .withPanel(
      statPanel(
        'Decision latency p99',
        promNow(`histogram_quantile(0.99, sum by (le) (rate(arbiter_decision_latency_seconds_bucket[5m])))`, 'p99'),
        {
          ...prometheus,
          unit: 's',
          w: 4,
          thresholds: [
            { value: null, color: 'green' },
            { value: LATENCY_TARGET_SECONDS, color: 'red' },
          ],
          description: 'Event receive to verdict or decision, 99th percentile over 5 minutes; the target is 50 ms.',
        },
      ),
    )
    .withPanel(
      statPanel('Consumer lag', promNow('sum(arbiter_consumer_pending)', 'pending'), {
        ...prometheus,
        decimals: 0,
        w: 3,
        thresholds: [
          { value: null, color: 'green' },
          { value: 10000, color: 'orange' },
          { value: 100000, color: 'red' },
        ],
        description:
          'Messages not yet delivered or not yet acknowledged, over all durable consumers. Messages, not events: on EVENTS a message carries 1 to 100 events (a request’s minted ones travel together), so the same backlog in events reads up to 100 times smaller.',
      }),
    )
    .withPanel(
      statPanel('Dead letters waiting', promNow('sum(max by (stream) (arbiter_dead_letters))', 'messages'), {
        ...prometheus,
        decimals: 0,
        w: 3,
        thresholds: [
          { value: null, color: 'green' },
          { value: 1, color: 'red' },
        ],
        description: 'Messages parked on the dead-letter subjects in the time range (inspect and replay them from there).',
      }),
    )
    .withPanel(
      statPanel(
        'Since last event stored',
        tableSql(`
          SELECT extract(epoch FROM now() - greatest(${newestStored('click')}, ${newestStored('conversion')}))::float8
                 AS "Since last event stored"`),
        {
          unit: 's',
          w: 4,
          thresholds: [
            { value: null, color: 'green' },
            { value: 60, color: 'orange' },
            { value: 600, color: 'red' },
          ],
          description: 'From the database: how long ago the newest stored click or conversion arrived (empty when none did for a day).',
        },
      ),
    )

    .withRow(new RowBuilder('Throughput'))
    .withPanel(
      seriesPanel(
        'Events in (gateway)',
        [
          prom(rate('arbiter_events_ingested_total', 'kind', '{duplicate="false"}'), '{{kind}}'),
          prom(rate('arbiter_events_ingested_total', 'kind', '{duplicate="true"}'), '{{kind}} re-sent', 'B'),
          prom(rate('arbiter_events_rejected_total', 'kind'), '{{kind}} refused', 'C'),
        ],
        {
          ...prometheus,
          unit: 'cps',
          description: 'Accepted events per second by kind; re-sent duplicates and refused (invalid) ones apart.',
        },
      ),
    )
    .withPanel(
      seriesPanel('Verdicts and decisions out (scorer)', [prom(rate('arbiter_outcomes_total', 'kind, outcome'), '{{kind}} {{outcome}}')], {
        ...prometheus,
        unit: 'cps',
        stacked: true,
        description: 'Click verdicts (valid / invalid) and conversion decisions (approved / hold / rejected) per second.',
      }),
    )
    .withPanel(
      seriesPanel(
        'Messages handled by consumer',
        [prom(rate('arbiter_messages_processed_total', 'consumer, outcome'), '{{consumer}} {{outcome}}')],
        {
          ...prometheus,
          unit: 'cps',
          description: 'JetStream messages each durable consumer settled: ok, retry (nak with back-off), dead_letter.',
        },
      ),
    )
    .withPanel(
      seriesPanel('Rows written (recorder)', [prom(rate('arbiter_rows_written_total', 'table'), '{{table}}')], {
        ...prometheus,
        unit: 'cps',
        stacked: true,
        description: 'Rows inserted per second by table, after de-duplication.',
      }),
    )

    .withRow(new RowBuilder('Latency and lag'))
    .withPanel(
      seriesPanel(
        'Decision latency',
        [
          prom(quantile(0.5, 'arbiter_decision_latency_seconds', 'kind'), 'p50 {{kind}}'),
          prom(quantile(0.95, 'arbiter_decision_latency_seconds', 'kind'), 'p95 {{kind}}', 'B'),
          prom(quantile(0.99, 'arbiter_decision_latency_seconds', 'kind'), 'p99 {{kind}}', 'C'),
        ],
        {
          ...prometheus,
          unit: 's',
          w: 8,
          thresholds: [
            { value: null, color: 'transparent' },
            { value: LATENCY_TARGET_SECONDS, color: 'red' },
          ],
          description: 'Event receive time to verdict or decision, from the histogram. The red line is the 50 ms p99 target.',
        },
      ).thresholdsStyle(new GraphThresholdsStyleConfigBuilder().mode(GraphThresholdsStyleMode.Dashed)),
    )
    .withPanel(
      seriesPanel('Consumer lag', [prom('max by (consumer) (arbiter_consumer_pending)', '{{consumer}}')], {
        ...prometheus,
        decimals: 0,
        w: 8,
        description:
          'Pending plus unacknowledged messages per durable consumer, sampled every 5 s by the consumers themselves. On EVENTS and VERDICTS a message carries 1 to 100 events or outcomes.',
      }),
    )
    .withPanel(
      seriesPanel(
        'Batch size',
        [
          prom(
            `sum by (consumer) (rate(arbiter_batch_size_sum[$__rate_interval])) / sum by (consumer) (rate(arbiter_batch_size_count[$__rate_interval]))`,
            'mean {{consumer}}',
          ),
          prom(quantile(0.95, 'arbiter_batch_size', 'consumer'), 'p95 {{consumer}}', 'B'),
        ],
        {
          ...prometheus,
          decimals: 0,
          w: 8,
          description: 'Messages per handled batch: small batches under load mean the consumers keep up.',
        },
      ),
    )

    .withRow(new RowBuilder('Dead letters and webhooks'))
    .withPanel(
      seriesPanel(
        'Dead-lettered messages',
        [prom('sum by (source) (increase(arbiter_dlq_messages_total[$__rate_interval]))', '{{source}}')],
        {
          ...prometheus,
          bars: true,
          stacked: true,
          decimals: 0,
          w: 8,
          description: 'Messages that can never be processed, parked on `arbiter.dlq.<consumer>` with their error.',
        },
      ),
    )
    .withPanel(
      // Every service reads the same depth from JetStream: max, not sum.
      seriesPanel('Dead letters waiting', [prom('max by (stream) (arbiter_dead_letters)', '{{stream}}')], {
        ...prometheus,
        decimals: 0,
        stepped: true,
        w: 8,
        description:
          'Messages in the dead-letter streams now, read from JetStream every 15 s. DLQ: poison events and verdicts; WEBHOOK_DLQ: webhook and postback deliveries that failed for good. List them with `arbiter dlq list` (GET /v1/admin/dead-letters), hand them back once the cause is fixed with `arbiter dlq replay` (POST /v1/admin/dead-letters/replay; POST /v1/admin/webhooks/replay also un-parks endpoints). Above 0 fires the "Dead letters waiting" alert.',
      }),
    )
    .withPanel(
      seriesPanel(
        'Webhook and postback deliveries',
        [prom(rate('arbiter_webhook_deliveries_total', 'owner, outcome'), '{{owner}} {{outcome}}')],
        {
          ...prometheus,
          unit: 'cps',
          stacked: true,
          w: 8,
          description:
            'Delivery attempts of advertisers’ webhooks (owner advertiser) and publishers’ partner postbacks (owner publisher) by outcome: delivered, retry, dead_letter, parked; claimed_elsewhere and partner_busy count waits, not requests (another copy of the delivery was being sent; the partner had WEBHOOK_MAX_IN_FLIGHT_PER_PARTNER deliveries in flight); spent_elsewhere counts copies dead-lettered unsent (another copy spent the attempts).',
        },
      ),
    )

    .withPanel(
      seriesPanel('Consumers degraded', [prom('max by (consumer) (arbiter_consumer_degraded)', '{{consumer}}')], {
        ...prometheus,
        decimals: 0,
        stepped: true,
        w: 8,
        description:
          '1 while a consumer keeps failing for a cause that is not its messages (database, broker, configuration): it keeps them and retries with back-off instead of dead-lettering them; /health says why. Fires the "Consumer degraded" alert after 5 minutes.',
      }),
    )
    .withPanel(
      seriesPanel(
        'Messages kept for a retry, by cause',
        [prom('sum by (consumer, cause) (increase(arbiter_consumer_failures_total[$__rate_interval]))', '{{consumer}} {{cause}}')],
        {
          ...prometheus,
          bars: true,
          stacked: true,
          decimals: 0,
          w: 8,
          description:
            'Messages a consumer naked because of a failure that is not theirs, by cause: nothing is lost, they come back when the cause is gone.',
        },
      ),
    )
    .withPanel(
      seriesPanel(
        'Dead letters replayed',
        [prom('sum by (consumer) (increase(arbiter_dead_letters_replayed_total[$__rate_interval]))', '{{consumer}}')],
        {
          ...prometheus,
          bars: true,
          decimals: 0,
          w: 8,
          description:
            'Dead letters handed back to the consumer that parked them (`arbiter dlq replay`, audited in GET /v1/admin/dead-letters/replays).',
        },
      ),
    )
    .withPanel(
      // Every recorder reads the same streams: max, not sum.
      seriesPanel('Streams full', [prom('max by (stream) (arbiter_stream_fill_ratio)', '{{stream}}')], {
        ...prometheus,
        unit: 'percentunit',
        w: 12,
        description:
          'How full EVENTS and VERDICTS are (bytes over EVENTS_MAX_BYTES), read by the recorders every 5 s. Above 90 % they purge what every durable consumer acknowledged, back to about 75 %; at 100 % a stream refuses publishes (the gateway answers 503 with Retry-After, the scorer retries its events) and loses nothing (docs/trust.md).',
      }),
    )
    .withPanel(
      seriesPanel('Trimming blocked by', [prom('max by (stream, consumer) (arbiter_stream_trim_blocked)', '{{stream}} {{consumer}}')], {
        ...prometheus,
        decimals: 0,
        w: 12,
        description:
          'Messages a durable consumer has not acknowledged that keep a nearly full stream from being trimmed (0: not blocking). A consumer far behind, or a stale one nothing reads (a scorer partition left after lowering ARBITER_PARTITIONS): delete the stale one. /health says degraded (`stream EVENTS`).',
      }),
    )

    .withRow(new RowBuilder('Models, owed revisions and rollups'))
    .withPanel(
      seriesPanel('Models running', [prom('count by (side, version) (arbiter_model_version == 1)', '{{side}} {{version}}')], {
        ...prometheus,
        decimals: 0,
        stepped: true,
        w: 8,
        description:
          'How many scorers run each model, per side (active: decides; shadow: scored beside it; `none`: no model). After a selection (PUT /v1/admin/models/selection) every scorer should show the selected version within seconds; two active versions side by side for long mean a scorer kept an older one (it could not load the new one: "Model load failures", or its watch of the selection ended: its log). Fires "Scorers run different active models" after 15 minutes.',
      }),
    )
    .withPanel(
      seriesPanel(
        'Model load failures',
        [
          prom('sum by (side) (increase(arbiter_model_load_failures_total[$__rate_interval]))', '{{side}}'),
          prom('max by (side, loader) (arbiter_model_load_failing)', '{{side}} not loaded ({{loader}})', 'B'),
        ],
        {
          ...prometheus,
          bars: true,
          stacked: true,
          decimals: 0,
          w: 8,
          description:
            'Failed loads of the selected model, by side; each retry (1 s doubling to 60 s) that fails counts. `<side> not loaded` is 1 while some scorer, or the API (the active model, for backtests), has not loaded the selected model of that side (arbiter_model_load_failing, named by its `loader`). The side keeps the model it had (a scorer that just started and cannot load the active model scores with rules only) and /health says `degraded` (`model active`). Fires "Selected active model not loaded" (or "… shadow …") once `not loaded (scorer)` has been 1 for 5 minutes, and "API cannot load the active model" (a warning: backtests only; the API retries in the background) for `active not loaded (api)`.',
        },
      ),
    )
    .withPanel(
      seriesPanel('Revisions owed to VERDICTS', [prom('sum(arbiter_scorer_owed_revisions)', 'owed')], {
        ...prometheus,
        decimals: 0,
        stepped: true,
        w: 8,
        thresholds: [
          { value: null, color: 'transparent' },
          { value: 1, color: 'red' },
        ],
        description:
          'Decision revisions (hold expiries, feedback) the scorers made and could not publish to VERDICTS yet: advertisers and publishers have not been told. Should be 0; the hold timer retries (2 ticks doubling to a minute) and /health says `degraded` (`scorer hold timer`). Fires "Decision revisions not published" after 5 minutes.',
      }).thresholdsStyle(new GraphThresholdsStyleConfigBuilder().mode(GraphThresholdsStyleMode.Dashed)),
    )
    .withPanel(
      seriesPanel(
        'KPI rollups behind',
        [
          prom(ROLLUP_LAG_EXPR, 'seconds behind'),
          prom(`max(arbiter_rollups_lag_bound_seconds) + ${ROLLUP_LAG_MARGIN_SECONDS}`, 'alert above', 'B'),
        ],
        {
          ...prometheus,
          unit: 's',
          w: 12,
          description: `Seconds since the time up to which the KPI rollups hold every row the recorders wrote (\`arbiter_rollups_refreshed_timestamp_seconds\`, the oldest recorder's). Normally under ROLLUP_REFRESH_SECONDS (30 by default) plus a refresh; up to ROLLUP_BACKLOG_REFRESH_SECONDS (120 by default) more while a recorder drains a backlog on TimescaleDB. Meanwhile the API's stats, the dashboards and the fraud-rate alert undercount (never double-count). \`alert above\` is the bound the recorders' own configuration allows (\`arbiter_rollups_lag_bound_seconds\`) plus ${ROLLUP_LAG_MARGIN_SECONDS} s: a recorder past it for 5 minutes fires "KPI rollups lagging", except while its first refresh since start (a history rebuild may take long) has run for less than ${FIRST_REFRESH_GRACE_SECONDS / 60} minutes.`,
        },
      ),
    )
    .withPanel(
      seriesPanel(
        'Rollup refreshes deferred',
        [prom('sum(increase(arbiter_rollup_refreshes_deferred_total[$__rate_interval]))', 'deferred')],
        {
          ...prometheus,
          bars: true,
          decimals: 0,
          w: 12,
          description:
            'Routine rollup refreshes a recorder skipped because it was draining a backlog (TimescaleDB; each re-reads everything drained so far). Bars mean a backlog; bars for half an hour mean the recorders do not keep up (see Consumer lag, Rows written): fires "Recorders draining a backlog".',
        },
      ),
    )

    .withRow(new RowBuilder('Freshness and processes'))
    .withPanel(
      tablePanel(
        'Last row stored, by kind',
        tableSql(`
          -- Bounded: a kind that has not been seen for a day is shown as never seen.
          SELECT k.kind, k.at AS last_stored, extract(epoch FROM now() - k.at)::float8 AS seconds_ago
            FROM (VALUES ${FRESHNESS.map((f) => `('${f.kind}', ${newestStored(f.kind)})`).join(', ')}) AS k(kind, at)
           ORDER BY k.kind`),
        {
          kind: { title: 'Kind' },
          last_stored: { title: 'Last stored', unit: 'dateTimeAsIso' },
          seconds_ago: {
            title: 'Seconds ago',
            decimals: 0,
            thresholds: [
              { value: null, color: 'green' },
              { value: 60, color: 'orange' },
              { value: 600, color: 'red' },
            ],
          },
        },
        {
          w: 6,
          h: 8,
          description: 'The newest row of each table: when the event arrived (clicks, conversions) or was decided (verdicts, decisions).',
        },
      ),
    )
    .withPanel(
      seriesPanel('Memory (resident)', [prom('sum by (service) (arbiter_process_process_resident_memory_bytes)', '{{service}}')], {
        ...prometheus,
        unit: 'bytes',
        w: 6,
      }),
    )
    .withPanel(
      seriesPanel('CPU', [prom('sum by (service) (rate(arbiter_process_process_cpu_seconds_total[$__rate_interval]))', '{{service}}')], {
        ...prometheus,
        unit: 'percentunit',
        w: 6,
        description: 'CPU seconds per second (1 = one core).',
      }),
    )
    .withPanel(
      seriesPanel('Event loop lag p99', [prom('max by (service) (arbiter_process_nodejs_eventloop_lag_p99_seconds)', '{{service}}')], {
        ...prometheus,
        unit: 's',
        w: 6,
        description: 'A blocked event loop delays every message and request of the service.',
      }),
    );
  return finish(builder);
}
