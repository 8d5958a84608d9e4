import { DEAD_LETTER_HEADERS } from '@app/messaging';

/**
 * The durable consumer that delivers webhooks and partner postbacks (its dead letters are on
 * `<root>.webhook-dlq.<owner>`); `arbiter dlq replay` and `/v1/admin/dead-letters/replay` hand them back.
 */
export const WEBHOOK_DURABLE = 'notifier-webhooks';

/** Header carrying the attempts a delivery already had before it was replayed: attempt numbers keep counting. */
export const PRIOR_ATTEMPTS_HEADER = DEAD_LETTER_HEADERS.priorAttempts;
