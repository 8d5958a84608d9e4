import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * One registry per thread: every service of an all-in-one process that runs on the main thread
 * reports through it; a service in a worker thread reports through its thread's, which
 * `threadMetrics` merges into the main thread's `GET /metrics`.
 */
export const metricsRegistry = new Registry();
const PROCESS_PREFIX = 'arbiter_process_';
collectDefaultMetrics({ register: metricsRegistry, prefix: PROCESS_PREFIX });

/** A registry's metrics as `getMetricsAsJSON` gives them (plain data: they cross threads as messages). */
export type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/** Sources of the other threads' metrics (an all-in-one engine's service threads), by thread. */
export const threadMetrics = new Map<string, () => Promise<MetricsJson>>();

/**
 * What a worker thread hands to the main thread's `GET /metrics`: its services' metrics without
 * the `arbiter_process_` ones (CPU, memory and handles are the process's, reported once by the
 * main thread; a worker's own heap would be summed into the main thread's figures).
 */
export async function ownThreadMetrics(): Promise<MetricsJson> {
  return (await metricsRegistry.getMetricsAsJSON()).filter((m) => !m.name.startsWith(PROCESS_PREFIX));
}

/** The Prometheus text of `GET /metrics`: this thread's registry, with the other threads' merged in (series of the same name and labels summed). */
export async function processMetrics(): Promise<string> {
  if (!threadMetrics.size) return metricsRegistry.metrics();
  const others = await Promise.all([...threadMetrics.values()].map((read) => read().catch((): MetricsJson => [])));
  return AggregatorRegistry.aggregate([await metricsRegistry.getMetricsAsJSON(), ...others]).metrics();
}

const made = new Map<string, Counter<string> | Gauge<string> | Histogram<string>>();

function once<T extends Counter<string> | Gauge<string> | Histogram<string>>(name: string, make: () => T): T {
  let m = made.get(name);
  if (!m) {
    m = make();
    made.set(name, m);
  }
  return m as T;
}

/** Metrics the dashboards and alert rules rely on; names are a contract with `dashboards/`. */
export const metrics = {
  get eventsIngested() {
    return once(
      'arbiter_events_ingested_total',
      () =>
        new Counter({
          name: 'arbiter_events_ingested_total',
          help: 'Events accepted by the gateway',
          labelNames: ['kind', 'duplicate'],
          registers: [metricsRegistry],
        }),
    );
  },
  get clicksBlocked() {
    return once(
      'arbiter_clicks_blocked_total',
      () =>
        new Counter({
          name: 'arbiter_clicks_blocked_total',
          help: 'Tracking-link clicks sent to the fallback URL by the click-time checks',
          registers: [metricsRegistry],
        }),
    );
  },
  get enforcementBlocks() {
    return once(
      'arbiter_enforcement_blocks_total',
      () =>
        new Counter({
          name: 'arbiter_enforcement_blocks_total',
          help: 'Blocks made by enforcement policies, by action (made, lifted)',
          labelNames: ['action'],
          registers: [metricsRegistry],
        }),
    );
  },
  get eventsRejected() {
    return once(
      'arbiter_events_rejected_total',
      () =>
        new Counter({
          name: 'arbiter_events_rejected_total',
          help: 'Events the gateway refused (validation)',
          labelNames: ['kind'],
          registers: [metricsRegistry],
        }),
    );
  },
  get eventsFailed() {
    return once(
      'arbiter_events_failed_total',
      () =>
        new Counter({
          name: 'arbiter_events_failed_total',
          help: 'Events the gateway could not store (EVENTS full or JetStream unavailable): answered 503, send again later',
          labelNames: ['kind'],
          registers: [metricsRegistry],
        }),
    );
  },
  get streamFill() {
    return once(
      'arbiter_stream_fill_ratio',
      () =>
        new Gauge({
          name: 'arbiter_stream_fill_ratio',
          help: 'How full EVENTS and VERDICTS are (bytes or messages over their limit); at 1 publishes are refused',
          labelNames: ['stream'],
          aggregator: 'max',
          registers: [metricsRegistry],
        }),
    );
  },
  get streamTrimmed() {
    return once(
      'arbiter_stream_trimmed_messages_total',
      () =>
        new Counter({
          name: 'arbiter_stream_trimmed_messages_total',
          help: 'Messages every durable had acknowledged, purged from EVENTS and VERDICTS to keep room',
          labelNames: ['stream'],
          registers: [metricsRegistry],
        }),
    );
  },
  get streamTrimBlocked() {
    return once(
      'arbiter_stream_trim_blocked',
      () =>
        new Gauge({
          name: 'arbiter_stream_trim_blocked',
          help: 'Messages a durable has not acknowledged that keep a nearly full stream from being trimmed (0: not blocking)',
          labelNames: ['stream', 'consumer'],
          aggregator: 'max',
          registers: [metricsRegistry],
        }),
    );
  },
  get messagesProcessed() {
    return once(
      'arbiter_messages_processed_total',
      () =>
        new Counter({
          name: 'arbiter_messages_processed_total',
          help: 'JetStream messages handled, by consumer and outcome',
          labelNames: ['consumer', 'outcome'],
          registers: [metricsRegistry],
        }),
    );
  },
  get batchSize() {
    return once(
      'arbiter_batch_size',
      () =>
        new Histogram({
          name: 'arbiter_batch_size',
          help: 'Messages per handled batch',
          labelNames: ['consumer'],
          buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000],
          registers: [metricsRegistry],
        }),
    );
  },
  get dlq() {
    return once(
      'arbiter_dlq_messages_total',
      () =>
        new Counter({
          name: 'arbiter_dlq_messages_total',
          help: 'Messages parked in the dead-letter subjects',
          labelNames: ['source'],
          registers: [metricsRegistry],
        }),
    );
  },
  get deadLetters() {
    return once(
      'arbiter_dead_letters',
      () =>
        new Gauge({
          name: 'arbiter_dead_letters',
          help: 'Messages waiting in a dead-letter stream (DLQ, WEBHOOK_DLQ); every service reports it, aggregate with max',
          labelNames: ['stream'],
          // Every service thread of an all-in-one engine reports the same depth: merged, it is one.
          aggregator: 'max',
          registers: [metricsRegistry],
        }),
    );
  },
  get consumerFailures() {
    return once(
      'arbiter_consumer_failures_total',
      () =>
        new Counter({
          name: 'arbiter_consumer_failures_total',
          help: 'Messages a consumer kept for a retry because of a failure that is not theirs, by cause (database, broker, configuration, unknown)',
          labelNames: ['consumer', 'cause'],
          registers: [metricsRegistry],
        }),
    );
  },
  get consumerDegraded() {
    return once(
      'arbiter_consumer_degraded',
      () =>
        new Gauge({
          name: 'arbiter_consumer_degraded',
          help: '1 while a consumer keeps failing for a cause that is not its messages (health says why), else 0',
          labelNames: ['consumer'],
          registers: [metricsRegistry],
        }),
    );
  },
  get deadLettersReplayed() {
    return once(
      'arbiter_dead_letters_replayed_total',
      () =>
        new Counter({
          name: 'arbiter_dead_letters_replayed_total',
          help: 'Dead letters handed back to the consumer that parked them, by consumer',
          labelNames: ['consumer'],
          registers: [metricsRegistry],
        }),
    );
  },
  get consumerPending() {
    return once(
      'arbiter_consumer_pending',
      () =>
        new Gauge({
          name: 'arbiter_consumer_pending',
          help: 'Messages not yet delivered to a durable consumer (lag)',
          labelNames: ['consumer'],
          registers: [metricsRegistry],
        }),
    );
  },
  get decisionLatency() {
    return once(
      'arbiter_decision_latency_seconds',
      () =>
        new Histogram({
          name: 'arbiter_decision_latency_seconds',
          help: 'Event receive time to verdict or decision',
          labelNames: ['kind'],
          buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
          registers: [metricsRegistry],
        }),
    );
  },
  get outcomes() {
    return once(
      'arbiter_outcomes_total',
      () =>
        new Counter({
          name: 'arbiter_outcomes_total',
          help: 'Verdicts and decisions by outcome',
          labelNames: ['kind', 'outcome'],
          registers: [metricsRegistry],
        }),
    );
  },
  get redelivered() {
    return once(
      'arbiter_redelivered_total',
      () =>
        new Counter({
          name: 'arbiter_redelivered_total',
          help: 'Events back at the scorer after it forgot their outcome, by how it answered: recorded, resent (a click its sender sent again under the same id, answered from the record), wait (for the recorder), score (none was ever published), score_after_wait (scored after waiting 5 min for the recorder)',
          labelNames: ['kind', 'answer'],
          registers: [metricsRegistry],
        }),
    );
  },
  get owedRevisions() {
    return once(
      'arbiter_scorer_owed_revisions',
      () =>
        new Gauge({
          name: 'arbiter_scorer_owed_revisions',
          help: 'Decision revisions (hold expiries, feedback) the scorer made but could not publish to VERDICTS yet, as of the hold timer’s last tick',
          registers: [metricsRegistry],
        }),
    );
  },
  get webhookDeliveries() {
    return once(
      'arbiter_webhook_deliveries_total',
      () =>
        new Counter({
          name: 'arbiter_webhook_deliveries_total',
          help: 'Delivery attempts of advertisers’ webhooks and publishers’ partner postbacks, by owner and outcome; outcome="claimed_elsewhere" and outcome="partner_busy" count waits (no request: another copy of the delivery was being sent; the partner had WEBHOOK_MAX_IN_FLIGHT_PER_PARTNER in flight); outcome="spent_elsewhere" counts copies dead-lettered unsent (another copy spent the round’s attempts)',
          labelNames: ['owner', 'outcome'],
          registers: [metricsRegistry],
        }),
    );
  },
  get ruleSetVersion() {
    return once(
      'arbiter_ruleset_version',
      () =>
        new Gauge({
          name: 'arbiter_ruleset_version',
          help: 'Version of the rule-set configuration a service applies (scorer: scores with; gateway: checks tracking-link clicks with)',
          labelNames: ['service'],
          registers: [metricsRegistry],
        }),
    );
  },
  get modelVersion() {
    return once(
      'arbiter_model_version',
      () =>
        new Gauge({
          name: 'arbiter_model_version',
          help: 'The model a scorer runs on each side (active: decides with; shadow: runs beside it), as 1 on its version label (`none`: no model); compare with the selection to find a scorer that kept an older one',
          labelNames: ['side', 'version'],
          registers: [metricsRegistry],
        }),
    );
  },
  get modelLoadFailing() {
    return once(
      'arbiter_model_load_failing',
      () =>
        new Gauge({
          name: 'arbiter_model_load_failing',
          help: 'By side and loader (scorer: decides with it; api: backtests with the active one): 1 while the selected model does not load (a scorer keeps the model it had and retries; the api refuses backtests until one loads it), 0 once it does or the selection changes; a state to alert on, where the failure counter only says when loads failed',
          // `loader`, not `service`: Prometheus gives every series the target's `service`; and in one
          // process (npm start from sources) the api and the scorer share this registry.
          labelNames: ['side', 'loader'],
          registers: [metricsRegistry],
        }),
    );
  },
  get modelLoadFailures() {
    return once(
      'arbiter_model_load_failures_total',
      () =>
        new Counter({
          name: 'arbiter_model_load_failures_total',
          help: 'Failed loads of a selected model by a scorer, by side (each retry that fails counts; the side keeps the model it had until one succeeds)',
          labelNames: ['side'],
          registers: [metricsRegistry],
        }),
    );
  },
  get rowsWritten() {
    return once(
      'arbiter_rows_written_total',
      () =>
        new Counter({
          name: 'arbiter_rows_written_total',
          help: 'Rows the recorder inserted (after de-duplication)',
          labelNames: ['table'],
          registers: [metricsRegistry],
        }),
    );
  },
  get rollupsRefreshed() {
    return once(
      'arbiter_rollups_refreshed_timestamp_seconds',
      () =>
        new Gauge({
          name: 'arbiter_rollups_refreshed_timestamp_seconds',
          help: 'Unix time up to which the KPI rollups hold every row this recorder wrote (when its last successful refresh started, or its last tick if it wrote nothing since); aggregate with min: on TimescaleDB a recorder refreshes only from what it wrote, so the fleet lags by at most the time since the minimum',
          // Several recorders (or an all-in-one engine's threads): on TimescaleDB each refresh covers
          // only what its recorder wrote, so the oldest is what readers may be missing.
          aggregator: 'min',
          registers: [metricsRegistry],
        }),
    );
  },
  get rollupsLagBound() {
    return once(
      'arbiter_rollups_lag_bound_seconds',
      () =>
        new Gauge({
          name: 'arbiter_rollups_lag_bound_seconds',
          help: 'How far behind its configuration lets this recorder keep the KPI rollups, before a refresh’s own time: the longest a backlog defers its refresh (ROLLUP_BACKLOG_REFRESH_SECONDS, at least one tick) plus one ROLLUP_REFRESH_SECONDS tick; what "KPI rollups lagging" compares arbiter_rollups_refreshed_timestamp_seconds with',
          aggregator: 'max',
          registers: [metricsRegistry],
        }),
    );
  },
  get rollupsFirstRefreshStarted() {
    return once(
      'arbiter_rollups_first_refresh_started_timestamp_seconds',
      () =>
        new Gauge({
          name: 'arbiter_rollups_first_refresh_started_timestamp_seconds',
          help: 'Unix time this recorder’s first rollup refresh since its start began, while it runs (it covers the startup window and any history a migration asked to rebuild, and may take long); 0 once it ended, done or failed',
          aggregator: 'max',
          registers: [metricsRegistry],
        }),
    );
  },
  get rollupRefreshesDeferred() {
    return once(
      'arbiter_rollup_refreshes_deferred_total',
      () =>
        new Counter({
          name: 'arbiter_rollup_refreshes_deferred_total',
          help: 'Routine rollup refreshes a recorder skipped because it had a backlog (TimescaleDB; ROLLUP_BACKLOG_REFRESH_SECONDS bounds the lag)',
          registers: [metricsRegistry],
        }),
    );
  },
};
