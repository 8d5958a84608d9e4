import { ClickRule, NoParams } from '../rule';

/** Hosting, cloud and proxy ranges: people browse from homes and phones, not from data centers. */
export const datacenterIpRule: ClickRule = {
  code: 'DATACENTER_IP',
  on: 'click',
  params: NoParams,
  defaults: {},
  evaluate: ({ obs, lists }) => {
    if (!obs.ip.valid || lists.allowIps.match(obs.ip.normalized)) return null;
    const range = lists.datacenter.match(obs.ip.normalized);
    return range ? { range } : null;
  },
};
