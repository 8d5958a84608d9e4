import { REASON_CODES } from '@app/contracts';

const spec = REASON_CODES.ENFORCEMENT_BLOCK;

/**
 * An enforcement block's reason as the admin's and the publisher's block lists show it (OpenAPI
 * examples): the reason-code catalogue's own example and the message it explains it with.
 */
export const BLOCK_REASON_EXAMPLE = {
  code: spec.code,
  message: spec.explain(spec.example),
  evidence: spec.example,
};
