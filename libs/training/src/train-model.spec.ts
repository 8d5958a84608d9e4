import { CLICK_FEATURES, OFFLINE_DISTINCT_SECRET } from '@app/features';
import { CHROME_UA, at, sketchCollisions } from '@app/testing';
import { LabelledEvents, trainingRows } from './train-model';

/** A deployment's secret (what `DeploymentSecretRepository` reads), not the public offline one. */
const DEPLOYMENT_SECRET = '9b04c6e1d27a5f38';
const N = 300;
const devices = CLICK_FEATURES.indexOf('ip_distinct_devices_so_far');

/**
 * A device farm in a deployment's history, as `arbiter train --from-db` reads it: one IP rotating
 * device ids built to collide under the public offline key (its clicks labelled fraud, as the
 * deployment's scorers and analysts saw them).
 */
async function* farm(): LabelledEvents {
  const ids = sketchCollisions(OFFLINE_DISTINCT_SECRET, 'farm-', N);
  for (let i = 0; i < N; i++) {
    const click = { kind: 'click', id: `clk-farm-${i}`, ts: at(i * 300_000), offerId: 'offer-1', publisherId: 'pub-1' };
    yield { line: i + 1, value: { ...click, ip: '8.8.4.4', userAgent: CHROME_UA, deviceId: ids[i], label: 'fraud' } };
  }
}

describe('training rows count distinct values with the secret they are given (train --from-db: the deployment’s)', () => {
  it("read a farm's colliding device ids as the deployment's scorers count them, not as one device", async () => {
    const deployment = await trainingRows(farm(), DEPLOYMENT_SECRET);
    expect(deployment.rows.click).toHaveLength(N);
    const counted = Math.expm1(deployment.rows.click[N - 1].x[devices]);
    expect(counted).toBeGreaterThan(N / 2);
    expect(counted).toBeLessThan(N * 2);

    // Under the public key — what `--from-db` used — the farm is one device in the training data.
    const offline = await trainingRows(farm(), OFFLINE_DISTINCT_SECRET);
    expect(Math.expm1(offline.rows.click[N - 1].x[devices])).toBeLessThan(8);
  });
});
