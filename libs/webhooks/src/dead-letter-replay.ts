import { DEAD_LETTER_HEADERS } from '@app/messaging';

/**
 * The durable consumer that delivers webhooks and partner postbacks (its dead letters are on
 * `<root>.webhook-dlq.<owner>`); `arbiter dlq replay` and `/v1/admin/dead-letters/replay` hand them back.
 */
export const WEBHOOK_DURABLE = 'notifier-webhooks';

/** Header carrying the attempts a delivery already had before it was replayed: attempt numbers keep counting. */
export const PRIOR_ATTEMPTS_HEADER = DEAD_LETTER_HEADERS.priorAttempts;

/**
 * Header carrying how many times a delivery was replayed (0 or absent: never): every copy replayed in
 * one round carries the same, so the round's retry budget is theirs together.
 */
export const REPLAYS_HEADER = DEAD_LETTER_HEADERS.replays;
