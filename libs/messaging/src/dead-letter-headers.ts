/** Headers every dead letter carries (DLQ and WEBHOOK_DLQ alike); `arbiter dlq list` shows them. */
export const DEAD_LETTER_HEADERS = {
  error: 'Arbiter-Error',
  errorType: 'Arbiter-Error-Type',
  /** The durable consumer that parked it (and the only one a replay hands it back to). */
  source: 'Arbiter-Source',
  /** The subject it was consumed from. */
  subject: 'Arbiter-Subject',
  stream: 'Arbiter-Stream',
  streamSeq: 'Arbiter-Stream-Seq',
  deliveries: 'Arbiter-Deliveries',
  /** The original message's id (its Nats-Msg-Id), kept through replays. */
  eventId: 'Arbiter-Event-Id',
  /** Deliveries before the last replay (webhook attempt numbers keep counting). */
  priorAttempts: 'Arbiter-Prior-Attempts',
  /** How many times it was replayed. */
  replays: 'Arbiter-Replays',
} as const;
