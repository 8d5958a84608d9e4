import { REASON_CODES, ReasonCode } from '@app/contracts';

/** Reason codes that can appear on click verdicts and on decisions: one rollup column each. */
export const CLICK_REASON_CODES = (Object.keys(REASON_CODES) as ReasonCode[]).filter((c) =>
  (REASON_CODES[c].on as readonly string[]).includes('click'),
);
export const CONVERSION_REASON_CODES = (Object.keys(REASON_CODES) as ReasonCode[]).filter((c) =>
  (REASON_CODES[c].on as readonly string[]).includes('conversion'),
);
