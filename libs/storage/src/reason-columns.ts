import { REASON_CODES, ReasonCode } from '@app/contracts';

/**
 * Codes added after the KPI rollups were created (migration 0004 builds one column per code that
 * existed then; a continuous aggregate cannot gain a column, and an installed database keeps its
 * rollups). They are on every decision, in its reasons and the API, but not yet in the rollups:
 * a later migration that rebuilds the rollups adds them.
 */
const NOT_IN_ROLLUPS: ReadonlySet<string> = new Set(['UNVERIFIED_SOURCE', 'OFFER_MISMATCH']);

const rolledUp = (side: 'click' | 'conversion') =>
  (Object.keys(REASON_CODES) as ReasonCode[]).filter(
    (c) => (REASON_CODES[c].on as readonly string[]).includes(side) && !NOT_IN_ROLLUPS.has(c),
  );

/** Reason codes that can appear on click verdicts and on decisions: one rollup column each. */
export const CLICK_REASON_CODES = rolledUp('click');
export const CONVERSION_REASON_CODES = rolledUp('conversion');
