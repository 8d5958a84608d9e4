import { Type } from '@sinclair/typebox';
import { CatalogKey, StringEnum } from '@app/contracts';
import { POSTBACK_MACROS } from '@app/webhooks';

const Template = Type.String({
  pattern: '^https?://',
  maxLength: 2048,
  description: `URL template; macros in the path and query: ${POSTBACK_MACROS.map((m) => `{${m}}`).join(' ')}`,
});
const Scope = Type.Union([CatalogKey, Type.Null()], {
  description: 'the offer it is for; null or absent: every offer without a postback of its own',
});

export const PostbackInput = Type.Object({ url: Template, offerId: Type.Optional(Scope) }, { additionalProperties: false });

export const PostbackChange = Type.Object(
  {
    url: Type.Optional(Template),
    offerId: Type.Optional(Scope),
    /** A new signing secret; the previous one keeps signing beside it for WEBHOOK_SECRET_OVERLAP_HOURS. */
    rotateSecret: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

const Page = {
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
  cursor: Type.Optional(Type.String({ description: 'the `next` of the previous page' })),
};

export const PostbackAttemptsQuery = Type.Object(
  { postbackId: Type.Optional(Type.String({ maxLength: 64 })), ...Page },
  { additionalProperties: false },
);

export const WebhookAttemptsQuery = Type.Object({ ...Page }, { additionalProperties: false });

export const AdminAttemptsQuery = Type.Object(
  {
    owner: Type.Optional(StringEnum(['advertiser', 'publisher'] as const, 'advertisers’ webhooks or publishers’ postbacks; default both')),
    advertiserId: Type.Optional(CatalogKey),
    publisherId: Type.Optional(CatalogKey),
    postbackId: Type.Optional(Type.String({ maxLength: 64 })),
    ...Page,
  },
  { additionalProperties: false },
);

export const AdminPostbacksQuery = Type.Object({ publisherId: Type.Optional(CatalogKey) }, { additionalProperties: false });
