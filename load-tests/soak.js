// Soak: a steady half of the end-to-end target for hours (DURATION, default 2 h): leaks, growing
// latency and stream or table bloat show up here, not in short runs.
//   k6 run -e ARBITER_ADMIN_KEY=… -e DURATION=8h load-tests/soak.js
import exec from 'k6/execution';
import { THRESHOLDS, perSecond, seedCatalog, sendClicks } from './lib/traffic.js';

const RATE = Number(__ENV.RATE || 5000);

export const options = {
  scenarios: {
    soak: {
      executor: 'constant-arrival-rate',
      rate: perSecond(RATE),
      timeUnit: '1s',
      duration: __ENV.DURATION || '2h',
      preAllocatedVUs: 100,
      maxVUs: 1000,
    },
  },
  thresholds: THRESHOLDS,
};

export function setup() {
  return seedCatalog(`soak-${Date.now()}`);
}

export default function (ids) {
  sendClicks(ids, exec.scenario.iterationInTest);
}
