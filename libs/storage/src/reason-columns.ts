import { REASON_CODES, ReasonCode } from '@app/contracts';

const codesOn = (side: 'click' | 'conversion') =>
  (Object.keys(REASON_CODES) as ReasonCode[]).filter((c) => (REASON_CODES[c].on as readonly string[]).includes(side));

/**
 * Reason codes that can appear on click verdicts and on decisions: one rollup column each. A
 * continuous aggregate cannot gain a column, so a code added later is rolled up once a migration
 * rebuilds the rollups (0011 did, for every code known then; 0013 for ENFORCEMENT_BLOCK).
 */
export const CLICK_REASON_CODES = codesOn('click');
export const CONVERSION_REASON_CODES = codesOn('conversion');

/** Codes added after migration 0004 created the rollups: its frozen definitions leave them out. */
const AFTER_0004: ReadonlySet<string> = new Set(['UNVERIFIED_SOURCE', 'OFFER_MISMATCH', 'ENFORCEMENT_BLOCK']);

/** The reason columns migration 0004 created. */
export const CLICK_REASON_CODES_0004 = CLICK_REASON_CODES.filter((c) => !AFTER_0004.has(c));
export const CONVERSION_REASON_CODES_0004 = CONVERSION_REASON_CODES.filter((c) => !AFTER_0004.has(c));

/** Codes added after migration 0011 rebuilt the rollups: its frozen definitions leave them out. */
const AFTER_0011: ReadonlySet<string> = new Set(['ENFORCEMENT_BLOCK']);

/** The reason columns migration 0011 created. */
export const CLICK_REASON_CODES_0011 = CLICK_REASON_CODES.filter((c) => !AFTER_0011.has(c));
export const CONVERSION_REASON_CODES_0011 = CONVERSION_REASON_CODES.filter((c) => !AFTER_0011.has(c));
