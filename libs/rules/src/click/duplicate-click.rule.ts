import { Type } from '@sinclair/typebox';
import { ClickRule } from '../rule';

export interface DuplicateClickParams {
  windowSeconds: number;
}

/** Same IP, user agent, offer and publisher again within the window (default: 1 per 30 s). */
export const duplicateClickRule: ClickRule<DuplicateClickParams> = {
  code: 'DUPLICATE_CLICK',
  on: 'click',
  // The state remembers 10 minutes of click keys, so a longer window could not be honoured.
  params: Type.Object({ windowSeconds: Type.Number({ minimum: 1, maximum: 600 }) }, { additionalProperties: false }),
  defaults: { windowSeconds: 30 },
  evaluate: ({ obs }, p) =>
    obs.secondsSinceDuplicate !== null && obs.secondsSinceDuplicate < p.windowSeconds
      ? { secondsSincePrevious: round(obs.secondsSinceDuplicate), windowSeconds: p.windowSeconds }
      : null,
};

const round = (x: number) => Math.round(x * 10) / 10;
