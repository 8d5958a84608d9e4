import { FeatureState, DEFAULT_FEATURE_OPTIONS, distinctKey } from '@app/features';
import { ModelRuntime } from '@app/model';
import { DEFAULT_RULESET } from '@app/rules';
import { aCatalog, aClick, aConversion, at } from '@app/testing';
import { ScoringEngine } from './scoring-engine';

/**
 * The deployment's distinct-count secret keys the sketches' value hash: whoever learns it can build
 * device ids that count as one (distinct-evasion.spec). It must never reach what the engine hands
 * out (verdicts, decisions: NATS, the database, the publisher API) nor what every rule reads (the
 * observation's `ip` and `ua`, memoised for the process, where a `{ ...obs.ua }` in evidence would
 * publish whatever they hold).
 */
const SECRET = '5d1e0f77a3c2b941';
const bytes = Buffer.from(SECRET, 'hex');
/** The secret as it would show in JSON: its hex, its two 32-bit words (signed and unsigned), its bytes. */
const TELLS = [
  SECRET,
  String(bytes.readInt32LE(0)),
  String(bytes.readUInt32LE(0)),
  String(bytes.readInt32LE(4)),
  String(bytes.readUInt32LE(4)),
  bytes.toString('base64'),
];

const clicks = Array.from({ length: 12 }, (_, i) =>
  aClick({
    ts: at(i * 40_000),
    ip: `8.8.4.${i % 3}`,
    deviceId: `dev-${i % 7}`,
    userAgent: `Mozilla/5.0 (X11; Linux x86_64) probe/${i % 5}`,
  }),
);

describe("the deployment's distinct-count secret stays inside the feature state", () => {
  it('is in no verdict or decision', () => {
    const engine = new ScoringEngine(DEFAULT_RULESET, { features: { distinctSecret: SECRET } });
    engine.useModels(ModelRuntime.fromFile('models/default/model.json'), null);
    const catalog = aCatalog();
    const outcomes: unknown[] = [];
    for (const click of clicks) {
      outcomes.push(engine.scoreClick(click, catalog, Date.parse(click.receivedAt)));
      const conversion = aConversion(click);
      outcomes.push(engine.scoreConversion(conversion, catalog, null, Date.parse(conversion.receivedAt)));
    }
    const json = JSON.stringify(outcomes);
    for (const tell of TELLS) expect(json).not.toContain(tell);
  });

  it("is on no enumerable field of the observation's IP and user agent (which every rule reads)", () => {
    const state = new FeatureState({ ...DEFAULT_FEATURE_OPTIONS, distinctSecret: SECRET });
    for (const click of clicks) {
      const { ip, ua } = state.observeClick(click);
      for (const field of [...Object.values(ip), ...Object.values(ua)]) {
        // Plain values only: no key object (an Int32Array serialises as {"0":…,"1":…}).
        expect(field === null || ['string', 'number', 'boolean'].includes(typeof field)).toBe(true);
        expect(TELLS).not.toContain(String(field));
      }
      for (const tell of TELLS) expect(JSON.stringify({ ...ip, ...ua })).not.toContain(tell);
    }
  });
});

describe('one key per secret', () => {
  it('is the same object for the same secret', () => {
    expect(distinctKey(SECRET)).toBe(distinctKey(SECRET));
  });

  it("lets two states with the same secret share the user agent's memoised value hash (the backtester's two engines)", () => {
    const a = new FeatureState({ ...DEFAULT_FEATURE_OPTIONS, distinctSecret: SECRET });
    const b = new FeatureState({ ...DEFAULT_FEATURE_OPTIONS, distinctSecret: SECRET });
    const click = clicks[0];
    const ua = a.observeClick(click).ua;
    const tag = ua.valueKey;
    const hash = ua.valueHash;
    // Were the tag not the same for both states, each would re-hash the user agent on every event.
    expect(b.observeClick({ ...click, id: `${click.id}-b` }).ua).toBe(ua);
    expect(ua.valueKey).toBe(tag);
    expect(ua.valueHash).toBe(hash);
  });
});
