import { Reason } from '@app/contracts';
import { CLICK_FEATURES, CONVERSION_FEATURES } from '@app/features';
import { ForestJson, ModelArtifact, TreeNodeJson } from '@app/model';
import { ModelRegistry } from '@app/live-config';
import { ModelRepository } from '@app/storage';
import { CHROME_UA, IPHONE_UA, eventually, uid } from '@app/testing';
import { TestEngine, bootEngine, postJson } from './support/engine';
import { Tenant, call, seedTenant } from './support/tenants';

const HAS_DEVICE = CLICK_FEATURES.indexOf('has_device');
const UA_MOBILE = CLICK_FEATURES.indexOf('ua_mobile');

/** A stump on one feature: below 0.5 a legitimate leaf, above it a fraud leaf. */
const stump = (): { root: TreeNodeJson } => ({
  root: { splitColumn: 0, splitValue: 0.5, left: { distribution: [[1, 0]] }, right: { distribution: [[0, 1]] } },
});

/**
 * Five stumps: three on `has_device` (the first counts in millionths, as in ml-random-forest), two
 * on `ua_mobile`. A desktop click with a device id and a mobile click without one both pass the 0.3
 * threshold, for different reasons. Node fraud shares: 30 % at each root, 10 % / 80 % at the leaves.
 */
function explainedModel(version: string): ModelArtifact {
  const click: ForestJson = {
    name: 'RFClassifier',
    baseModel: {
      nEstimators: 5,
      isClassifier: true,
      indexes: [[HAS_DEVICE], [HAS_DEVICE], [HAS_DEVICE], [UA_MOBILE], [UA_MOBILE]],
      estimators: [0, 1, 2, 3, 4].map(stump),
    },
  };
  const held = { rows: 1000, fraud: 100, legit: 900, precision: 1, falsePositiveRate: 0 };
  return {
    format: 'arbiter-model/1',
    version,
    features: { click: [...CLICK_FEATURES], conversion: [...CONVERSION_FEATURES] },
    thresholds: { click: 0.3, conversion: 1 },
    click,
    conversion: null,
    explanation: {
      click: { nodeFraudShare: [0, 1, 2, 3, 4].flatMap(() => [0.3, 0.1, 0.8]), typicalLegit: CLICK_FEATURES.map(() => 0) },
      conversion: null,
    },
    card: {
      trainedAt: '2026-12-01T00:00:00.000Z',
      trainingSeconds: 1,
      source: 'test',
      rows: { clicks: { fraud: 100, legit: 900 }, conversions: { fraud: 0, legit: 0 } },
      sampledPerForest: { clicks: 1000, conversions: 0 },
      options: {},
      featureImportance: { click: { has_device: 0.6, ua_mobile: 0.4 }, conversion: {} },
      // Trained on this network's labels with perfect held-out figures: it decides, so its clicks reach the publisher's list.
      origin: 'operator',
      heldOut: { click: held },
    },
  };
}

/** Issue 15: MODEL_RISK's evidence is this event's own explanation; the publisher sees none of it. */
describe('MODEL_RISK explains each event (services booted)', () => {
  let t: TestEngine;
  let a: Tenant;

  beforeAll(async () => {
    t = await bootEngine();
    a = await seedTenant(t, 'explain');
  }, 120_000);
  afterAll(() => t?.stop());

  it("carries the event's own contributions, value and typical value in the evidence, and hides them from the publisher", async () => {
    const model = explainedModel(uid('m-explained'));
    const registry = new ModelRegistry(t.nc, t.topology, new ModelRepository(t.db));
    await registry.publish(model, 'test');
    await registry.select({ active: model.version }, 'test');

    let n = 1;
    /** Sends a click until the scorers score it with the model, and returns its stored MODEL_RISK reason. */
    const modelRisk = (click: Record<string, unknown>) =>
      eventually(
        async () => {
          const res = await postJson(
            `${t.gateway}/v1/clicks`,
            { offerId: a.offerId, publisherId: a.publisherId, ip: `8.8.7.${n++}`, ...click },
            { authorization: `Bearer ${a.publisherKey}` },
          );
          const row = await eventually(
            async () =>
              (await t.db.query(`SELECT click_id, model_version, valid, reasons FROM click_verdicts WHERE click_id = $1`, [res.body.id]))
                .rows[0],
          );
          return row.model_version === model.version
            ? {
                id: row.click_id as string,
                valid: row.valid as boolean,
                reason: (row.reasons as Reason[]).find((r) => r.code === 'MODEL_RISK'),
              }
            : null;
        },
        (found) => found !== null,
      );

    const desktop = (await modelRisk({ userAgent: CHROME_UA, deviceId: uid('dev') }))!;
    const mobile = (await modelRisk({ userAgent: IPHONE_UA }))!;

    // Weights as the forest counts its votes: the first tree in millionths, the other four a fifth each.
    const weight = 1e-6 + 0.4;
    expect(desktop.valid).toBe(false);
    expect(desktop.reason?.evidence).toMatchObject({
      probability: 0.400001,
      explanation: 'per-event',
      bias: Math.round(0.3 * (1e-6 + 0.8) * 1e4) / 1e4,
      contributions: [
        { feature: 'has_device', value: 1, typicalLegit: 0, contribution: Math.round(0.7 * weight * 1e4) / 1e4 },
        { feature: 'ua_mobile', value: 0, typicalLegit: 0, contribution: -0.12 },
      ],
    });
    expect(desktop.reason?.message).toContain("what raised this event's score most: has_device 1 (legitimate typically 0) +0.28");
    expect(mobile.reason?.evidence).toMatchObject({
      probability: 0.4,
      explanation: 'per-event',
      contributions: [
        { feature: 'ua_mobile', value: 1, typicalLegit: 0, contribution: 0.28 },
        { feature: 'has_device', value: 0, typicalLegit: 0, contribution: Math.round(-0.3 * weight * 1e4) / 1e4 },
      ],
    });

    // The publisher reads that the model flagged the click, and nothing of how.
    const page = await eventually(
      async () => (await call(t.api, 'GET', '/v1/publisher/rejections?kind=click&limit=100', a.publisherKey)).body,
      (b) => b.items?.some((i: { id: string }) => i.id === desktop.id),
    );
    const item = page.items.find((i: { id: string }) => i.id === desktop.id);
    const seen = item.reasons.find((r: { code: string }) => r.code === 'MODEL_RISK');
    expect(seen).toMatchObject({ message: "The network's fraud model rates this traffic as likely fraudulent.", evidence: {} });
    expect(JSON.stringify(item)).not.toMatch(/has_device|contribution|typicalLegit|probability|explanation/);
  });
});
