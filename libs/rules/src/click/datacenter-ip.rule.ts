import { ClickRule, NoParams } from '../rule';

/**
 * Hosting, cloud and proxy ranges: people browse from homes and phones, not from data centers.
 * The evidence names the provider (the starter list's, or the one an operator's list was loaded for).
 */
export const datacenterIpRule: ClickRule = {
  code: 'DATACENTER_IP',
  on: 'click',
  params: NoParams,
  defaults: {},
  evaluate: ({ obs, lists }) => {
    if (!obs.ip.valid || lists.allowIps.match(obs.ip.normalized)) return null;
    const hit = lists.datacenter.lookup(obs.ip.normalized);
    return hit ? { provider: hit.label ?? 'operator list', range: hit.cidr } : null;
  },
};
