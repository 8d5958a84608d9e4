import { CsvColumn, csvText, fieldColumns } from '@app/http';
import type { Postback, WebhookAttempt } from '@app/storage';
import type { PostbackAttemptView, advertiserAttempt } from './postbacks.service';

/** Examples and CSV columns of the postback and attempt lists (OpenAPI shows the same). */
export const POSTBACK_EXAMPLE: Postback = {
  id: '0193e0f2-7b8c-7d9e-8f01-23456789abcd',
  publisherId: 'blog',
  offerId: null,
  url: 'https://tracker.example/postback?cid={click_id}&s1={sub1}&payout={payout}&status={status}&reason={reason}',
  status: 'active',
  consecutiveFailures: 0,
  failedDeliveries: 0,
  parkedAt: null,
  previousSecretUntil: null,
  createdAt: '2026-11-20T14:03:11.000Z',
  updatedAt: '2026-11-20T14:03:11.000Z',
};

export const POSTBACK_CSV: CsvColumn<Postback>[] = fieldColumns<Postback>(Object.keys(POSTBACK_EXAMPLE));
export const POSTBACK_CSV_EXAMPLE = csvText([POSTBACK_EXAMPLE], POSTBACK_CSV);

const ATTEMPT_BASE = {
  deliveryId: '0193e0f2-7b8c-7d9e-8f01-23456789abcd:0',
  attempt: 1,
  conversionId: '0193e0f2-7b8c-7d9e-8f01-23456789abcd',
  revision: 0,
  at: '2026-11-20T14:03:12.000Z',
  statusCode: 200,
  error: null,
  durationMs: 41.2,
  outcome: 'delivered' as const,
};

export const POSTBACK_ATTEMPT_EXAMPLE: PostbackAttemptView = {
  ...ATTEMPT_BASE,
  publisherId: 'blog',
  postbackId: POSTBACK_EXAMPLE.id,
  url: 'https://tracker.example/postback?cid=c0.0193e0f2-6a7b&s1=spring&payout=4.5&status=approved&reason=',
};
export const POSTBACK_ATTEMPT_CSV: CsvColumn<PostbackAttemptView>[] = fieldColumns<PostbackAttemptView>(
  Object.keys(POSTBACK_ATTEMPT_EXAMPLE),
);
export const POSTBACK_ATTEMPT_CSV_EXAMPLE = csvText([POSTBACK_ATTEMPT_EXAMPLE], POSTBACK_ATTEMPT_CSV);

/** Every attempt, either audience (admins). */
export const WEBHOOK_ATTEMPT_EXAMPLE: WebhookAttempt = {
  ...ATTEMPT_BASE,
  owner: 'advertiser',
  advertiserId: 'shop',
  publisherId: null,
  postbackId: null,
  url: 'https://shop.example/arbiter',
};
export const WEBHOOK_ATTEMPT_CSV: CsvColumn<WebhookAttempt>[] = fieldColumns<WebhookAttempt>(Object.keys(WEBHOOK_ATTEMPT_EXAMPLE));
export const WEBHOOK_ATTEMPT_CSV_EXAMPLE = csvText([WEBHOOK_ATTEMPT_EXAMPLE], WEBHOOK_ATTEMPT_CSV);

/** An advertiser's own webhook attempts. */
export type AdvertiserAttemptView = ReturnType<typeof advertiserAttempt>;
export const ADVERTISER_ATTEMPT_EXAMPLE: AdvertiserAttemptView = {
  ...ATTEMPT_BASE,
  advertiserId: 'shop',
  url: 'https://shop.example/arbiter',
};
export const ADVERTISER_ATTEMPT_CSV: CsvColumn<AdvertiserAttemptView>[] = fieldColumns<AdvertiserAttemptView>(
  Object.keys(ADVERTISER_ATTEMPT_EXAMPLE),
);
export const ADVERTISER_ATTEMPT_CSV_EXAMPLE = csvText([ADVERTISER_ATTEMPT_EXAMPLE], ADVERTISER_ATTEMPT_CSV);
