// Spike: a quiet baseline, a sudden jump to five times the end-to-end target, a hold, and back:
// the gateway must keep acknowledging (JetStream absorbs the burst) and the backlog must drain.
//   k6 run -e ARBITER_ADMIN_KEY=… load-tests/spike.js
import exec from 'k6/execution';
import { THRESHOLDS, perSecond, seedCatalog, sendClicks } from './lib/traffic.js';

const BASE = Number(__ENV.BASE_RATE || 1000);
const PEAK = Number(__ENV.PEAK_RATE || 50000);

export const options = {
  scenarios: {
    spike: {
      executor: 'ramping-arrival-rate',
      startRate: perSecond(BASE),
      timeUnit: '1s',
      preAllocatedVUs: 100,
      maxVUs: 2000,
      stages: [
        { target: perSecond(BASE), duration: '1m' },
        { target: perSecond(PEAK), duration: '10s' },
        { target: perSecond(PEAK), duration: '1m' },
        { target: perSecond(BASE), duration: '10s' },
        { target: perSecond(BASE), duration: '2m' },
      ],
    },
  },
  // Under a 50× spike the acknowledgement may slow down, but nothing may fail.
  thresholds: { ...THRESHOLDS, 'http_req_duration{name:ingest}': ['p(99)<1000'] },
};

export function setup() {
  return seedCatalog(`spike-${Date.now()}`);
}

export default function (ids) {
  sendClicks(ids, exec.scenario.iterationInTest);
}
