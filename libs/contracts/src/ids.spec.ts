import { hasMintedClickShape, hasScopedShape, mintClickId, scopedEventId, senderScope } from './ids';

describe('scopedEventId', () => {
  it('is the documented formula, so a partner can derive the stored id of its own id (docs/trust.md)', () => {
    // printf 'publisher:blog\0txn-1001' | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | cut -c1-32
    expect(scopedEventId('publisher:blog', 'txn-1001')).toBe('s-_25vAaEcYdYbALgbHlVq6S6J6WMjAalP');
  });

  it('keeps scopes apart, and the shape apart from minted click ids', () => {
    // The NUL separator keeps scope and id apart: neither an event id (printable ASCII) nor a catalog id holds one.
    expect(scopedEventId('publisher:a', 'b:c')).not.toBe(scopedEventId('publisher:a:b', 'c'));
    expect(scopedEventId('advertiser:shop', '1')).not.toBe(scopedEventId('pixel:shop', '1'));
    const id = scopedEventId('advertiser:shop', '1');
    expect([hasScopedShape(id), hasMintedClickShape(id), hasScopedShape(mintClickId(3)), hasScopedShape('s-short')]).toEqual([
      true,
      false,
      false,
      false,
    ]);
  });
});

describe('senderScope', () => {
  it('is the sender and its id, and a sender without an id has no namespace (never one shared by all of them)', () => {
    expect([senderScope('publisher', 'blog'), senderScope('advertiser', 'shop'), senderScope('pixel', 'offer-1')]).toEqual([
      'publisher:blog',
      'advertiser:shop',
      'pixel:offer-1',
    ]);
    for (const missing of [undefined, null, '']) expect(() => senderScope('advertiser', missing)).toThrow('no id namespace');
  });
});
