import type { Evidence } from '@app/contracts';
import { blockReasonEvidence } from './enforcement';
import { ClickRule, ConversionRule, NoParams } from './rule';

/** The click's publisher or sub-id is blocked (on this offer or network-wide) at the click's receipt. */
export const enforcementBlockClickRule: ClickRule = {
  code: 'ENFORCEMENT_BLOCK',
  on: 'click',
  params: NoParams,
  defaults: {},
  evaluate: ({ event, lists }): Evidence | null => {
    const block = lists.blocks.find(event.publisherId, event.subId, event.ts);
    return block && blockReasonEvidence(block);
  },
};

/** The publisher or sub-id of the conversion's click is blocked at the conversion's receipt. */
export const enforcementBlockConversionRule: ConversionRule = {
  code: 'ENFORCEMENT_BLOCK',
  on: 'conversion',
  params: NoParams,
  defaults: {},
  evaluate: ({ event, obs, lists }): Evidence | null => {
    const click = obs.click;
    const block = click ? lists.blocks.find(click.publisherId, click.subId, event.ts) : null;
    return block && blockReasonEvidence(block);
  },
};
