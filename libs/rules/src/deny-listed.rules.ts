import type { Evidence } from '@app/contracts';
import { ClickRule, ConversionRule, NoParams } from './rule';

/** IP (or range), device, publisher or sub-id on a deny list of the rule set. */
export const denyListedClickRule: ClickRule = {
  code: 'DENY_LISTED',
  on: 'click',
  params: NoParams,
  defaults: {},
  evaluate: ({ event, obs, lists }): Evidence | null => {
    if (lists.denyPublishers.has(event.publisherId)) return { list: 'publisher', value: event.publisherId };
    if (lists.subIdDenied(event.publisherId, event.subId)) return { list: 'sub-id', value: event.subId ?? null };
    if (lists.denyIps.match(obs.ip.normalized)) return { list: 'IP address', value: obs.ip.normalized };
    if (event.deviceId && lists.denyDevices.has(event.deviceId)) return { list: 'device', value: event.deviceId };
    return null;
  },
};

export const denyListedConversionRule: ConversionRule = {
  code: 'DENY_LISTED',
  on: 'conversion',
  params: NoParams,
  defaults: {},
  evaluate: ({ event, obs, lists }): Evidence | null => {
    const click = obs.click;
    if (click && lists.denyPublishers.has(click.publisherId)) return { list: 'publisher', value: click.publisherId };
    if (click && lists.subIdDenied(click.publisherId, click.subId)) return { list: 'sub-id', value: click.subId };
    if (event.ip && lists.denyIps.match(event.ip)) return { list: 'IP address', value: event.ip };
    if (event.deviceId && lists.denyDevices.has(event.deviceId)) return { list: 'device', value: event.deviceId };
    return null;
  },
};
