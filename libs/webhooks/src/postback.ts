import { isReasonCode, type Decision } from '@app/contracts';

/**
 * The macros of a partner postback template (DESIGN §12): what a publisher may learn about its own
 * conversion, and nothing more (§3a) — no sale amount, no advertiser revenue, no scores, no visitor IP.
 */
export const POSTBACK_MACROS = [
  'click_id',
  'conversion_id',
  'offer_id',
  'sub_id',
  'sub1',
  'sub2',
  'sub3',
  'sub4',
  'sub5',
  'payout',
  'currency',
  'status',
  'reason',
  'revision',
] as const;
export type PostbackMacro = (typeof POSTBACK_MACROS)[number];

const MACRO = /\{([a-z0-9_]+)\}/g;

/**
 * Why a template may not be a postback URL, or null when it may: http(s), known macros only, and
 * none in the scheme or host (the destination is checked when it is set; a macro there would let a
 * conversion choose where the request goes).
 */
export function postbackTemplateProblem(template: string): string | null {
  const unknown = [...template.matchAll(MACRO)].map((m) => m[1]).filter((name) => !(POSTBACK_MACROS as readonly string[]).includes(name));
  if (unknown.length)
    return `has unknown macros: ${unknown.map((u) => `{${u}}`).join(', ')} (known: ${POSTBACK_MACROS.map((m) => `{${m}}`).join(' ')})`;
  const authority = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(template);
  if (!authority) return 'is not an absolute http(s) URL';
  if (authority[1].includes('{') || authority[1].includes('}')) return 'may use macros only in the path and query, not in the host';
  try {
    new URL(renderPostback(template, {}));
  } catch {
    return 'is not a URL';
  }
  return null;
}

/** The template with each macro replaced by its value, URL-encoded (a missing value is empty). */
export function renderPostback(template: string, values: Partial<Record<PostbackMacro, string | number | null | undefined>>): string {
  return template.replace(MACRO, (whole, name: string) => {
    if (!(POSTBACK_MACROS as readonly string[]).includes(name)) return whole;
    const v = values[name as PostbackMacro];
    return v === null || v === undefined ? '' : encodeURIComponent(String(v));
  });
}

/**
 * The macro values of a decision, as its publisher may see them. `subIds` are the click's sub1…sub5
 * (the decision carries only the main sub-id). `reason` lists the codes that decided a rejection
 * or hold (monitor-only reasons did not decide, and an approval has none).
 */
export function postbackValues(decision: Decision, subIds: Record<string, string> | null): Record<PostbackMacro, string | number | null> {
  const deciding =
    decision.status === 'approved' ? [] : decision.reasons.filter((r) => !r.monitorOnly && isReasonCode(r.code)).map((r) => r.code);
  return {
    click_id: decision.clickId,
    conversion_id: decision.conversionId,
    offer_id: decision.offerId,
    sub_id: decision.subId,
    sub1: subIds?.sub1 ?? null,
    sub2: subIds?.sub2 ?? null,
    sub3: subIds?.sub3 ?? null,
    sub4: subIds?.sub4 ?? null,
    sub5: subIds?.sub5 ?? null,
    payout: decision.payout,
    currency: decision.currency,
    status: decision.status,
    reason: [...new Set(deciding)].join(','),
    revision: decision.revision,
  };
}
