import fc from 'fast-check';
import {
  decodeOutcomeItem,
  encodeOutcomeItem,
  encodedReasons,
  isOutcomeItemsBody,
  outcomeItemTexts,
  outcomeItemsBody,
} from './outcome-items';
import { compiled } from './validation';
import { ClickVerdict } from './verdict.schema';

function aVerdict(clickId: string, subId: string | null, evidence: Record<string, string | number>): ClickVerdict {
  return {
    kind: 'click',
    clickId,
    ts: '2026-12-03T04:00:00.000Z',
    offerId: 'offer-1',
    publisherId: 'pub-1',
    advertiserId: 'adv-1',
    subId,
    valid: false,
    score: 0.9,
    category: 'GIVT',
    reasons: [
      {
        code: 'ENFORCEMENT_BLOCK',
        category: 'GIVT',
        severity: 'high',
        message: `sub-id ${subId} is blocked`,
        evidence,
        monitorOnly: false,
      },
    ],
    rulesetVersion: '1',
    modelVersion: null,
    modelScore: null,
    shadowModelVersion: null,
    shadowScore: null,
    decidedAt: '2026-12-03T04:00:00.005Z',
    latencyMs: 5,
  };
}

/** What a sender may try to break the framing with: the separators, their escapes, quotes, the placeholder. */
const HOSTILE = [
  '\t',
  '\n',
  '\r',
  '\u001e',
  '\\',
  '"',
  '\\t',
  '\\n',
  '"reasons":0',
  '","reasons":[]}\t[{"code":"X"}]\n\u001e',
  '\u2028',
  '\ud800',
  'é',
];

describe('outcome items', () => {
  it('decode to what JSON.parse of the outcome gives, keys in the same order, and keep the reasons text', () => {
    const v = aVerdict('c1', 'sub-1', { subId: 'sub-1', n: 0.1 });
    const sut = decodeOutcomeItem(encodeOutcomeItem(v));
    expect(JSON.stringify(sut)).toBe(JSON.stringify(v));
    expect(compiled(ClickVerdict).check(sut).ok).toBe(true);
    expect(encodedReasons(sut.reasons)).toBe(JSON.stringify(v.reasons));
    // The outcome encoded is given back as it was.
    expect(v.reasons).toHaveLength(1);
  });

  it('a string a sender chose (sub-id, evidence) cannot move an item or its reasons: property', () => {
    const hostile = fc.oneof(fc.constantFrom(...HOSTILE), fc.string(), fc.string({ unit: 'binary' }));
    const text = fc.array(hostile, { minLength: 1, maxLength: 4 }).map((parts) => parts.join(''));
    fc.assert(
      fc.property(fc.array(fc.tuple(text, text, text), { minLength: 1, maxLength: 5 }), (rows) => {
        const vs = rows.map(([subId, key, value], i) => aVerdict(`c${i}`, subId, { subId, [key]: value }));
        const body = outcomeItemsBody(vs.map(encodeOutcomeItem));
        expect(isOutcomeItemsBody(new TextEncoder().encode(body))).toBe(true);
        const items = outcomeItemTexts(body);
        expect(items).toHaveLength(vs.length);
        items.forEach((item, i) => {
          const decoded = decodeOutcomeItem(item);
          expect(decoded).toEqual(JSON.parse(JSON.stringify(vs[i])));
          // What the recorder writes is the reasons' own JSON, nothing of a neighbour's.
          expect(encodedReasons(decoded.reasons)).toBe(JSON.stringify(vs[i].reasons));
          expect(compiled(ClickVerdict).check(decoded).ok).toBe(true);
        });
      }),
      { numRuns: 300 },
    );
  });

  it('what is kept for the database is the text that parsed into the checked reasons, whoever wrote the item', () => {
    // A forged item: its head claims other reasons; the reasons part decides, and its text is what is kept.
    const v = aVerdict('c1', 'x', {});
    const forged = `${JSON.stringify({ ...v, reasons: [{ code: 'A' }] })}\t ${JSON.stringify(v.reasons)} `;
    const sut = decodeOutcomeItem(forged);
    expect(sut.reasons).toEqual(v.reasons);
    expect(JSON.parse(encodedReasons(sut.reasons)!)).toEqual(sut.reasons);
  });

  it('refuses an item that is not two JSON parts or whose head is not an object', () => {
    for (const bad of ['{"kind":"click"}', '{"kind":"click"}\t[', '[1]\t[]', 'null\t[]', '{"a":1,\t"b":2}\t[]']) {
      expect(() => decodeOutcomeItem(bad)).toThrow();
    }
  });

  it('keeps no text for reasons that were not decoded from an item, nor for reasons replaced since', () => {
    const decoded = decodeOutcomeItem(encodeOutcomeItem(aVerdict('c1', null, {})));
    expect(encodedReasons([...(decoded.reasons as unknown[])])).toBeUndefined();
    expect(encodedReasons(null)).toBeUndefined();
    expect(encodedReasons('[]')).toBeUndefined();
  });

  it('is told apart from the older shapes by its first byte', () => {
    const enc = (s: string) => new TextEncoder().encode(s);
    expect(isOutcomeItemsBody(enc('[{"kind":"click"}]'))).toBe(false);
    expect(isOutcomeItemsBody(enc('{"kind":"click"}'))).toBe(false);
    expect(isOutcomeItemsBody(enc(''))).toBe(false);
  });
});
