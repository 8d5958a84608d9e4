import { ClickRule, NoParams } from '../rule';

/** Malformed, private, loopback, reserved and other non-routable addresses. */
export const invalidIpRule: ClickRule = {
  code: 'INVALID_IP',
  on: 'click',
  params: NoParams,
  defaults: {},
  evaluate: ({ obs }) => (obs.ip.valid ? null : { range: obs.ip.range }),
};
