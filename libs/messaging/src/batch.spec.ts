import { ClickVerdict, encodeOutcomeItem, encodedReasons } from '@app/contracts';
import { EncodedJson, ITEMS_PER_MESSAGE, batchMessages, bodyItems, isBatchBody, itemCount, outcomeMessages } from './batch';
import { jsonItemsDecoder, outcomeMessageId } from './consumer-spec';
import { PoisonMessageError } from './errors';

const SUBJECT = 'unit.verdicts.click';

function aVerdict(clickId: string, overrides: Partial<ClickVerdict> = {}): ClickVerdict {
  return {
    kind: 'click',
    clickId,
    offerId: 'offer-1',
    publisherId: 'pub-1',
    valid: true,
    category: null,
    ts: '2026-12-02T04:00:00.000Z',
    advertiserId: 'adv-1',
    subId: null,
    score: 0.1,
    reasons: [],
    rulesetVersion: '1',
    modelVersion: null,
    modelScore: null,
    shadowModelVersion: null,
    shadowScore: null,
    decidedAt: '2026-12-02T04:00:00.005Z',
    latencyMs: 5,
    ...overrides,
  };
}

const items = (...vs: ClickVerdict[]) => vs.map((v) => ({ payload: v, msgId: outcomeMessageId(v)! }));
const bytes = (o: { payload: unknown }) =>
  new TextEncoder().encode(o.payload instanceof EncodedJson ? o.payload.text : JSON.stringify(o.payload));
const decodeItems = jsonItemsDecoder<ClickVerdict>((s) => (s === SUBJECT ? ClickVerdict : null), outcomeMessageId);

describe('batchMessages', () => {
  it('sends one item as before: the item itself, under its own id, with no item count', () => {
    const v = aVerdict('c1');
    expect(batchMessages(SUBJECT, items(v))).toEqual([{ subject: SUBJECT, payload: v, msgId: 'verdict:c1' }]);
  });

  it("spells a batch message as the items' own JSON in one array, as before", () => {
    const vs = [
      aVerdict('c1', {
        reasons: [
          { code: 'GEO_MISMATCH', category: 'SIVT', severity: 'low', message: 'é\u2028"', evidence: { n: 0.1 }, monitorOnly: false },
        ],
      }),
      aVerdict('c2'),
    ];
    const [sut] = batchMessages(SUBJECT, items(...vs));
    expect((sut.payload as EncodedJson).text).toBe(`[${vs.map((v) => JSON.stringify(v)).join(',')}]`);
  });

  it('sends several as one JSON array carrying its item count, which decodes back to the same items', () => {
    const vs = [aVerdict('c1'), aVerdict('c2'), aVerdict('c3')];
    const [sut, ...more] = batchMessages(SUBJECT, items(...vs));
    expect(more).toEqual([]);
    expect(sut.items).toBe(3);
    expect(itemCount(String(sut.items))).toBe(3);
    expect(decodeItems(SUBJECT, bytes(sut))).toEqual(vs.map((v) => ({ value: v, raw: v, id: `verdict:${v.clickId}` })));
  });

  it('derives the message id from the items’ ids only: the same items re-scored are the same message', () => {
    const [first] = batchMessages(SUBJECT, items(aVerdict('c1'), aVerdict('c2')));
    const [again] = batchMessages(SUBJECT, items(aVerdict('c1', { latencyMs: 40 }), aVerdict('c2', { score: 0.9 })));
    const [other] = batchMessages(SUBJECT, items(aVerdict('c1'), aVerdict('c3')));
    expect(again.msgId).toBe(first.msgId);
    expect(other.msgId).not.toBe(first.msgId);
  });

  it(`splits by count, ${ITEMS_PER_MESSAGE} items a message`, () => {
    const vs = Array.from({ length: ITEMS_PER_MESSAGE * 2 + 1 }, (_, i) => aVerdict(`c${i}`));
    const sut = batchMessages(SUBJECT, items(...vs));
    expect(sut.map((m) => m.items)).toEqual([ITEMS_PER_MESSAGE, ITEMS_PER_MESSAGE, undefined]);
    expect(sut[2]).toEqual({ subject: SUBJECT, payload: vs[vs.length - 1], msgId: `verdict:c${vs.length - 1}` });
  });

  it('splits a message whose body would pass maxBytes in halves, each covering the next `items` items, in order', () => {
    const big = (i: number) => aVerdict(`c${i}`, { subId: 'é'.repeat(1000) }); // about 2.4 kB of UTF-8 each
    const vs = Array.from({ length: 10 }, (_, i) => big(i));
    const sut = batchMessages(SUBJECT, items(...vs), ITEMS_PER_MESSAGE, 8_000);
    expect(sut.map((m) => m.items ?? 1)).toEqual([3, 2, 3, 2]);
    for (const m of sut) expect(bytes(m).length).toBeLessThanOrEqual(8_000);
    expect(sut.flatMap((m) => (m.items ? decodeItems(SUBJECT, bytes(m)).map((d) => d.id) : [m.msgId]))).toEqual(
      vs.map((v) => `verdict:${v.clickId}`),
    );
    // Within the bound, a message is as without one.
    expect(batchMessages(SUBJECT, items(...vs), ITEMS_PER_MESSAGE, 1e9)).toEqual(batchMessages(SUBJECT, items(...vs)));
  });

  it('sends an item larger than maxBytes alone (it cannot be split further)', () => {
    const vs = [aVerdict('c1', { subId: 'x'.repeat(5000) }), aVerdict('c2')];
    expect(batchMessages(SUBJECT, items(...vs), ITEMS_PER_MESSAGE, 4000).map((m) => m.msgId)).toEqual(['verdict:c1', 'verdict:c2']);
  });

  it('counts a message without the header as one item', () => {
    expect([undefined, null, '', '1', 'x', '0'].map(itemCount)).toEqual([1, 1, 1, 1, 1, 1]);
  });
});

describe('jsonItemsDecoder', () => {
  it('checks each item on its own: a bad one is poison alone, with its own id', () => {
    const good = aVerdict('c1');
    const bad = { ...aVerdict('c2'), score: 7 };
    const [a, b] = decodeItems(SUBJECT, new TextEncoder().encode(JSON.stringify([good, bad])));
    expect(a).toEqual({ value: good, raw: good, id: 'verdict:c1' });
    expect(b).toEqual({ error: expect.any(PoisonMessageError), raw: bad, id: 'verdict:c2' });
    expect((b as { error: Error }).error.message).toMatch(/contract violation: \/?score/);
  });

  it('refuses, as a whole, a message that is not a JSON array or has no contract', () => {
    expect(() => decodeItems(SUBJECT, new TextEncoder().encode('{"kind":"click"}'))).toThrow(PoisonMessageError);
    expect(() => decodeItems(SUBJECT, new TextEncoder().encode('[1,'))).toThrow(/not JSON/);
    expect(() => decodeItems('unit.other', new TextEncoder().encode('[]'))).toThrow(/no contract/);
  });

  it('dead-letters an outcome item it cannot parse as a body of that one item, which a replay reads as an item again', () => {
    const good = encodeOutcomeItem(aVerdict('c1'));
    const broken = '{"kind":"click","clickId":"c2"\t[{';
    const [a, b] = decodeItems(SUBJECT, new TextEncoder().encode(`\u001e${good}\n${broken}`));
    expect('value' in a).toBe(true);
    expect(b).toMatchObject({ error: expect.any(PoisonMessageError), raw: broken, body: `\u001e${broken}` });
    // A replay of the dead letter (its body as it was published) fails the same way, not as a JSON string.
    const body = new TextEncoder().encode((b as { body: string }).body);
    expect(isBatchBody(body)).toBe(true);
    const [again] = decodeItems(SUBJECT, body);
    expect(again).toMatchObject({ raw: broken, body: `\u001e${broken}` });
    expect((again as { error: Error }).error.message).toBe((b as { error: Error }).error.message);
  });
});

describe('outcomeMessages', () => {
  const hostile = (clickId: string) =>
    aVerdict(clickId, {
      subId: 'a\t"b\n\u001e\\',
      reasons: [
        {
          code: 'GEO_MISMATCH',
          category: 'SIVT',
          severity: 'low',
          message: 'tab\t newline\n record\u001e',
          evidence: { subId: '"reasons":0\t[]\n', '\t': 'x' },
          monitorOnly: false,
        },
      ],
    });

  it('sends one outcome as before: the outcome itself, under its own id', () => {
    const v = aVerdict('c1');
    expect(outcomeMessages(SUBJECT, items(v))).toEqual(batchMessages(SUBJECT, items(v)));
  });

  it('sends several as outcome items, under the same message id as an array of them, which decode to the same outcomes and their reasons text', () => {
    const vs = [hostile('c1'), aVerdict('c2'), hostile('c3')];
    const [sut, ...more] = outcomeMessages(SUBJECT, items(...vs));
    expect(more).toEqual([]);
    expect(sut.items).toBe(3);
    expect(sut.msgId).toBe(batchMessages(SUBJECT, items(...vs))[0].msgId);
    expect(isBatchBody(bytes(sut))).toBe(true);
    const decoded = decodeItems(SUBJECT, bytes(sut));
    expect(decoded).toEqual(vs.map((v) => ({ value: v, raw: v, id: `verdict:${v.clickId}` })));
    for (const [i, d] of decoded.entries())
      expect(encodedReasons((d as { value: ClickVerdict }).value.reasons)).toBe(JSON.stringify(vs[i].reasons));
    expect(bodyItems((sut.payload as EncodedJson).text)).toEqual(vs);
  });

  it('sends an item the caller encoded as it is', () => {
    const vs = [aVerdict('c1'), aVerdict('c2')];
    const given = vs.map((v) => ({ payload: v, msgId: outcomeMessageId(v)!, item: encodeOutcomeItem(v) }));
    const [sut] = outcomeMessages(SUBJECT, given);
    expect((sut.payload as EncodedJson).text).toBe(`\u001e${given[0].item}\n${given[1].item}`);
  });

  it('splits by maxBytes as batchMessages does', () => {
    const vs = Array.from({ length: 10 }, (_, i) => aVerdict(`c${i}`, { subId: 'é'.repeat(1000) }));
    const sut = outcomeMessages(SUBJECT, items(...vs), ITEMS_PER_MESSAGE, 8_000);
    for (const m of sut) expect(bytes(m).length).toBeLessThanOrEqual(8_000);
    expect(sut.flatMap((m) => (m.items ? decodeItems(SUBJECT, bytes(m)).map((d) => d.id) : [m.msgId]))).toEqual(
      vs.map((v) => `verdict:${v.clickId}`),
    );
  });

  it('a bad item is poison alone, carried as JSON (the single shape) with its own id; an item that is not two JSON parts as a body of itself', () => {
    const good = aVerdict('c1');
    const bad = { ...aVerdict('c2'), score: 7 };
    const body = `\u001e${encodeOutcomeItem(good)}\n${encodeOutcomeItem(bad)}\n{"kind":"click"}`;
    const [a, b, c] = decodeItems(SUBJECT, new TextEncoder().encode(body));
    expect(a).toEqual({ value: good, raw: good, id: 'verdict:c1' });
    expect(b).toEqual({ error: expect.any(PoisonMessageError), raw: bad, id: 'verdict:c2' });
    expect(c).toEqual({ error: expect.any(PoisonMessageError), raw: '{"kind":"click"}', body: '\u001e{"kind":"click"}' });
  });
});
