import { Static, Type } from '@sinclair/typebox';

const Port = (def: number) => Type.Integer({ minimum: 0, maximum: 65535, default: def });
const Positive = (def: number, extra: object = {}) => Type.Integer({ minimum: 1, default: def, ...extra });

/** Webhook deliveries a notifier has in flight at once (the notifier-webhooks consumer's concurrency). */
export const WEBHOOK_DELIVERY_SLOTS = 16;
/** Empty or `false` (no proxy), a hop count (`1`), or proxies' addresses / CIDR ranges (`10.0.0.0/8,fd00::/8`); never `true`. */
const TrustProxy = Type.String({
  default: '',
  pattern: '^(|false|[0-9]{1,2}|[0-9A-Fa-f:.]+(/[0-9]{1,3})?( *, *[0-9A-Fa-f:.]+(/[0-9]{1,3})?)*)$',
  description: 'a hop count or a comma list of proxy addresses / CIDR ranges; `true` (any X-Forwarded-For) is refused',
});

/**
 * Every environment variable Arbiter reads, with its default. The names are the environment
 * variable names so that an operator can map an error message straight to what to change.
 */
export const ConfigSchema = Type.Object({
  NODE_ENV: Type.String({ default: 'production' }),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info' },
  ),
  /** Unset: the engine serves an embedded TimescaleDB-enabled PGlite on a local port. */
  DATABASE_URL: Type.Optional(Type.String({ minLength: 1 })),
  DATABASE_POOL_SIZE: Positive(10, { maximum: 200 }),
  /** Where embedded state lives (PGlite data, a spawned nats-server's store). */
  ARBITER_DATA_DIR: Type.String({ default: '.arbiter' }),
  /** 0 picks a free port. */
  EMBEDDED_DB_PORT: Port(0),
  /**
   * The embedded database (single-user PostgreSQL: no checkpointer of its own) checkpoints after this
   * much WAL, or this many seconds after its last checkpoint: what bounds `pg_wal` on disk and the
   * replay at a start after a crash. WAL_MB from 16 (below: a checkpoint every second or so at a high
   * rate, each followed by full-page images of every page first touched) to 512 (pg_wal keeps about twice
   * it, within PGlite's max_wal_size of 1 GB, which cannot be changed).
   */
  EMBEDDED_DB_CHECKPOINT_WAL_MB: Positive(128, { minimum: 16, maximum: 512 }),
  EMBEDDED_DB_CHECKPOINT_SECONDS: Positive(300, { maximum: 86_400 }),
  NATS_URL: Type.String({ default: 'nats://127.0.0.1:4222' }),
  /** `auto`: start a nats-server from PATH when nothing answers at NATS_URL (embedded mode only). */
  NATS_SPAWN: Type.Union([Type.Literal('auto'), Type.Literal('never')], { default: 'auto' }),
  /** Prefix for streams, subjects and buckets, so several engines (or test runs) share one NATS. */
  ARBITER_NAMESPACE: Type.String({ default: '', pattern: '^[a-z0-9_]{0,32}$' }),
  /** Scorer partitions; events are routed by IP (clicks) or by the click id they reference. */
  ARBITER_PARTITIONS: Positive(1, { maximum: 1024 }),
  /** Partitions this scorer owns: `all` or a comma list such as `0,2`. */
  SCORER_PARTITIONS: Type.String({ default: 'all', pattern: '^(all|\\d+(,\\d+)*)$' }),

  HOST: Type.String({ default: '0.0.0.0' }),
  GATEWAY_PORT: Port(8080),
  API_PORT: Port(3000),
  /** Health / metrics ports of the headless services when they run on their own (0: none). */
  SCORER_PORT: Port(9101),
  RECORDER_PORT: Port(9102),
  NOTIFIER_PORT: Port(9103),
  GATEWAY_BODY_LIMIT_BYTES: Positive(1_048_576, { maximum: 64 * 1_048_576 }),
  GATEWAY_MAX_BATCH: Positive(1000, { maximum: 10_000 }),
  /** Accept event timestamps at most this far ahead of the receive time (clock skew). */
  GATEWAY_MAX_FUTURE_SKEW_SECONDS: Positive(300),
  /**
   * How far in the past a publisher or advertiser may report an event's time (default 7 days).
   * Older is refused (400). A click's reported time is kept beside its receipt, which live rules
   * use; a conversion's may only shorten its CTIT. The admin key (backfill, replay) is not bound.
   */
  GATEWAY_MAX_REPORTED_AGE_SECONDS: Positive(7 * 86_400),
  /**
   * Proxies in front of the gateway: empty (none: the peer address is the client), a hop count
   * (`1`: one load balancer, whose X-Forwarded-For entry is the client), or a comma list of the
   * proxies' addresses / CIDR ranges. Never "any X-Forwarded-For" (that lets a client pick its
   * address, dodge limits and forge click IPs): `true` is refused.
   */
  GATEWAY_TRUST_PROXY: TrustProxy,
  /** Events per minute each partner key (publisher key, advertiser key, postback token) may send; over it 429 with Retry-After. The admin key is not limited. */
  GATEWAY_RATE_LIMIT_PER_KEY_PER_MINUTE: Positive(600_000, { maximum: 100_000_000 }),
  /** Events per minute per publisher, whatever keys send them. */
  GATEWAY_RATE_LIMIT_PER_PUBLISHER_PER_MINUTE: Positive(600_000, { maximum: 100_000_000 }),
  /** Events per minute per source address on the doors without a credential (tracking link, open pixel); unknown keys and tokens have a count of their own per address with this limit. */
  GATEWAY_RATE_LIMIT_PER_ADDRESS_PER_MINUTE: Positive(1200, { maximum: 100_000_000 }),
  /** Where the tracking link sends a visitor whose offer has no URL (unknown or unconfigured). */
  TRACKING_FALLBACK_URL: Type.Optional(Type.String({ pattern: '^https?://' })),

  /**
   * The model scorers use until one is activated through the KV bucket (`arbiter model activate`).
   * Empty: rules only until then.
   */
  ARBITER_DEFAULT_MODEL: Type.String({ default: 'models/default/model.json' }),
  /**
   * What a model trained on this network's labels must have shown on held-out data (the model alone
   * at its threshold, as written in its card) before MODEL_RISK may reject or invalidate on its own;
   * short of it, and always for the simulator-trained default, the model is advisory (holds, flags).
   */
  MODEL_MIN_PRECISION: Type.Number({ minimum: 0.5, maximum: 1, default: 0.98 }),
  MODEL_MAX_FALSE_POSITIVE_RATE: Type.Number({ minimum: 0, maximum: 0.5, default: 0.005 }),

  /** Requests each API key (or, without one, each client IP) may make per minute; more get 429 with Retry-After. */
  API_RATE_LIMIT_PER_MINUTE: Positive(1200, { maximum: 1_000_000 }),
  /** Requests each client IP may make per minute whatever the keys it sends (invented keys do not get round the per-key limit). */
  API_RATE_LIMIT_PER_IP_PER_MINUTE: Positive(6000, { maximum: 10_000_000 }),
  /** Proxies in front of the API, as GATEWAY_TRUST_PROXY (hop count or ranges); for the API's per-IP limits. */
  API_TRUST_PROXY: TrustProxy,

  /** Attempts of one webhook delivery before it is dead-lettered (replayable through the API). */
  WEBHOOK_MAX_ATTEMPTS: Positive(8, { maximum: 50 }),
  /** Dead-lettered deliveries in a row after which an advertiser's endpoint is parked (until it is set again or replayed). */
  WEBHOOK_PARK_AFTER: Positive(5),
  WEBHOOK_TIMEOUT_MS: Positive(10_000, { maximum: 50_000 }),
  /**
   * Deliveries one partner (an advertiser's webhook; all of one publisher's postbacks) is sure to have in
   * flight in one notifier, of its WEBHOOK_DELIVERY_SLOTS; more only while half the slots are free (a
   * lone busy partner gets 8), else one more is handed back to JetStream for a moment, so a slow endpoint
   * cannot hold the slots every other partner's deliveries need.
   */
  WEBHOOK_MAX_IN_FLIGHT_PER_PARTNER: Positive(4, { maximum: WEBHOOK_DELIVERY_SLOTS }),
  /** After a secret rotation, deliveries carry a signature with the previous secret too for this long (receivers switch at their pace). */
  WEBHOOK_SECRET_OVERLAP_HOURS: Type.Number({ minimum: 0, maximum: 720, default: 24 }),
  /** First retry delay; each next one is 3× longer (capped at 10 min), ±20 % jitter. */
  WEBHOOK_RETRY_BASE_MS: Positive(2000),
  /**
   * Let webhooks reach loopback, private and link-local addresses. Off: an advertiser's URL cannot
   * make the notifier call services inside the network (tests and closed installations turn it on).
   */
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: Type.Boolean({ default: false }),

  /** Seeds (idempotently) an admin API key at start. */
  ARBITER_ADMIN_KEY: Type.Optional(Type.String({ minLength: 16 })),

  EVENTS_MAX_AGE_HOURS: Positive(7 * 24),
  /** Size bound of the EVENTS and VERDICTS streams each (JetStream reserves it on the server). */
  EVENTS_MAX_BYTES: Positive(4 * 1024 ** 3, { maximum: Number.MAX_SAFE_INTEGER }),
  /**
   * Replicas of every stream and bucket the engine creates (1, or 3 / 5 on a JetStream cluster: a
   * node can then be lost without losing or refusing anything). Applied at start to existing streams too.
   */
  NATS_REPLICAS: Positive(1, { maximum: 5 }),
  /** JetStream de-duplication window for Nats-Msg-Id (seconds; DESIGN asks for at least 2 min). */
  DUPLICATE_WINDOW_SECONDS: Positive(120, { minimum: 120 }),

  SCORER_BATCH: Positive(500, { maximum: 10_000 }),
  /** How much event history a starting scorer replays from JetStream to rebuild its windows. */
  SCORER_REPLAY_HOURS: Type.Number({ minimum: 0, default: 24 }),
  /** Clicks kept in memory for attribution; older ones are looked up in the database. */
  SCORER_MAX_CLICKS: Positive(1_000_000),
  /**
   * Verdicts, and decisions, a scorer remembers to answer a redelivered event from memory; past it a
   * redelivery is answered from the database (docs/trust.md, "Redelivered events").
   */
  SCORER_REMEMBER_OUTCOMES: Positive(50_000),
  /** How often a scorer resolves holds whose time is up (ms): a hold outlives its holdUntil by at most this. */
  SCORER_HOLD_TICK_MS: Positive(5_000, { minimum: 100, maximum: 3_600_000 }),
  RECORDER_BATCH: Positive(1000, { maximum: 20_000 }),
  RECORDER_CONCURRENCY: Positive(2, { maximum: 32 }),
  /** How often the recorder brings the KPI rollups up to date (seconds; 0: never — TimescaleDB's policies only). */
  ROLLUP_REFRESH_SECONDS: Type.Integer({ minimum: 0, default: 30 }),
  /**
   * On TimescaleDB (the embedded database included): while the recorder has a backlog, it refreshes
   * the rollups at most this often (seconds) instead of every ROLLUP_REFRESH_SECONDS, so the rollups
   * lag by at most about this much. Each refresh re-reads every row of the minutes written since
   * the last one, which in a backlog is nearly everything drained so far. Below twice
   * ROLLUP_REFRESH_SECONDS: no deferral; otherwise the interval reached is the largest multiple of
   * ROLLUP_REFRESH_SECONDS not above this. Plain PostgreSQL's refresh is not deferred.
   */
  ROLLUP_BACKLOG_REFRESH_SECONDS: Type.Integer({ minimum: 0, maximum: 3_600, default: 120 }),
  /**
   * How often the API evaluates the rule sets' enforcement policies (seconds; 0: never). With several
   * API instances one holds a lease in the configuration bucket and runs them.
   */
  ENFORCEMENT_INTERVAL_SECONDS: Type.Number({ minimum: 0, maximum: 86_400, default: 60 }),
  /** How long the idempotency ledger remembers event ids (days). */
  LEDGER_RETENTION_DAYS: Positive(7),
});

/** Validated, typed configuration; build it once with `loadConfig`. */
export type ArbiterConfig = Static<typeof ConfigSchema>;
