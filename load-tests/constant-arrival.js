// Constant arrival rate: the offered load DESIGN §10's latency target is stated at (2,000 events/s by
// default), whatever the engine's response times, for DURATION.
//   k6 run -e ARBITER_ADMIN_KEY=… load-tests/constant-arrival.js
//   docker compose --profile load run --rm k6 run /load-tests/constant-arrival.js
import exec from 'k6/execution';
import { THRESHOLDS, perSecond, seedCatalog, sendClicks } from './lib/traffic.js';

const RATE = Number(__ENV.RATE || 2000);

export const options = {
  scenarios: {
    constant: {
      executor: 'constant-arrival-rate',
      rate: perSecond(RATE),
      timeUnit: '1s',
      duration: __ENV.DURATION || '5m',
      preAllocatedVUs: 50,
      maxVUs: 400,
    },
  },
  thresholds: THRESHOLDS,
};

export function setup() {
  return seedCatalog(`constant-${Date.now()}`);
}

export default function (ids) {
  sendClicks(ids, exec.scenario.iterationInTest);
}
