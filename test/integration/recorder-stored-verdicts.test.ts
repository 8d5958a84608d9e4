import { ClickVerdict, ConsumerName, Topology, encodeOutcomeItemWith, outcomeItemsBody, storedReasons } from '@app/contracts';
import type { StoredReason } from '@app/contracts';
import { loadConfig } from '@app/config';
import { ScoringEngine } from '@app/decisions';
import { Delivery, PoisonMessageError, StoredOutcome, consumerSpecs, decodeMessage } from '@app/messaging';
import { DEFAULT_RULESET } from '@app/rules';
import { aCatalog, aClick, createTestDatabase } from '@app/testing';
import { OutcomeRepository, QueryRepository, createPool, migrate } from '@app/storage';
import { RollupRefresherService } from '../../apps/recorder/src/rollup-refresher.service';
import { VerdictsConsumer } from '../../apps/recorder/src/verdicts.consumer';

/**
 * The recorder's VERDICTS consumer and click verdicts sent with their reasons slim (session 9):
 * its decoder checks a click verdict against `StoredClickVerdict`, not `ClickVerdict`, so a slim
 * item is accepted and stored; a reason with only one of category and message, another key or a
 * code this release does not know is still refused alone (poison: the runner dead-letters it).
 * The consumer spec and handler are the recorder's own; the database is PostgreSQL.
 */
describe('the recorder and slim click verdicts on VERDICTS', () => {
  const topology = new Topology('unit', 1);
  const spec = consumerSpecs(topology, loadConfig({})).get(ConsumerName.RecorderVerdicts)![0];
  const subject = topology.verdict('click');
  const engine = new ScoringEngine(DEFAULT_RULESET);
  const publisherId = `recorder-slim-${process.pid}`;
  let run = 0;
  /** The verdicts the engine scored just now, as the scorer collects them. */
  const scoredNow = new Set<ClickVerdict>();

  function verdict(): ClickVerdict {
    const click = aClick({ userAgent: 'curl/8.4.0', publisherId, id: `recorder-slim-${process.pid}-${run++}` });
    const v = engine.scoreClick(click, aCatalog(), Date.parse(click.receivedAt), scoredNow);
    expect(v.valid).toBe(false);
    return v;
  }

  /** A verdict as the scorer sends it, with its first slim reason changed by `change`. */
  function item(v: ClickVerdict, change: (r: StoredReason) => object = (r) => r): string {
    const [first, ...rest] = storedReasons(v.reasons, scoredNow.has(v));
    return encodeOutcomeItemWith(v, [change(first), ...rest]);
  }

  const malformed: [string, (r: StoredReason) => object][] = [
    ['only a category', (r) => ({ ...r, category: 'SIVT' })],
    ['only a message', (r) => ({ ...r, message: 'words' })],
    ['another key', (r) => ({ ...r, note: 'x' })],
    ['a code this release does not know', (r) => ({ ...r, code: 'LATER_CODE' })],
  ];

  it('refuses a malformed slim reason, alone in its message, and accepts its neighbours', () => {
    const good = verdict();
    const bad = malformed.map(() => verdict());
    const body = outcomeItemsBody([item(good), ...bad.map((v, i) => item(v, malformed[i][1]))]);
    const [first, ...refused] = decodeMessage(spec, subject, new TextEncoder().encode(body));
    expect('value' in first && (first.value as ClickVerdict).clickId).toBe(good.clickId);
    refused.forEach((d, i) => {
      expect({ kind: malformed[i][0], error: 'error' in d && d.error }).toEqual({
        kind: malformed[i][0],
        error: expect.any(PoisonMessageError),
      });
      expect(d.id).toBe(`verdict:${bad[i].clickId}`);
    });
    // The single-message shape (a dead letter replayed) is checked the same way.
    const single = (v: ClickVerdict, change?: (r: StoredReason) => object) => {
      const [first, ...rest] = storedReasons(v.reasons);
      return new TextEncoder().encode(JSON.stringify({ ...v, reasons: [change ? change(first) : first, ...rest] }));
    };
    expect((spec.decode(subject, single(good)) as ClickVerdict).clickId).toBe(good.clickId);
    for (const [, change] of malformed) expect(() => spec.decode(subject, single(good, change))).toThrow(PoisonMessageError);
  });

  it('stores a slim click verdict as it came, and the rejections reader serves it whole', async () => {
    const target = await createTestDatabase();
    const pool = createPool({ url: target.url, max: 2, applicationName: 'recorder-slim-test' });
    try {
      await migrate(pool);
      const v = verdict();
      const decoded = decodeMessage(spec, subject, new TextEncoder().encode(outcomeItemsBody([item(v), item(verdict())])));
      const deliveries = decoded.map(
        (d) => ({ data: 'value' in d ? d.value : null, msg: { info: {} } }) as unknown as Delivery<StoredOutcome>,
      );
      const rollups = { touched: () => undefined, progress: () => undefined } as unknown as RollupRefresherService;
      await new VerdictsConsumer(new OutcomeRepository(pool), rollups).record(deliveries);

      const { rows } = await pool.query<{ reasons: Record<string, unknown>[] }>('SELECT reasons FROM click_verdicts WHERE click_id = $1', [
        v.clickId,
      ]);
      expect(rows[0].reasons.every((r) => !('message' in r) && !('category' in r))).toBe(true);
      const from = new Date(Date.parse(v.ts) - 60_000);
      const page = await new QueryRepository(pool).rejections({
        publisherId,
        from,
        to: new Date(from.getTime() + 3_600_000),
        kind: 'click',
        limit: 10,
      });
      expect(page.items.find((r) => r.id === v.clickId)!.reasons).toEqual(v.reasons);
    } finally {
      await pool.end();
      await target.drop();
    }
  });
});
