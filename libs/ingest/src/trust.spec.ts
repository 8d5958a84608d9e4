import { ClickEvent, ConversionEvent, hasMintedClickShape, hasScopedShape, scopedEventId } from '@app/contracts';
import { anOffer } from '@app/testing';
import { EventNormalizer } from './normalizer';
import { SenderIdentity, applyTrust } from './trust';

describe('applyTrust (DESIGN §3a)', () => {
  const normalizer = new EventNormalizer({ partitions: 1, maxFutureSkewMs: 300_000, geo: () => null });
  const receivedAt = new Date('2026-06-01T12:00:00Z');
  const offers = new Map([
    ['shoes', anOffer({ id: 'shoes', advertiserId: 'shop' })],
    ['hats', anOffer({ id: 'hats', advertiserId: 'other', openConversions: true })],
  ]);
  const options = { maxReportedAgeMs: 3_600_000 };
  const sut = (kind: 'click' | 'conversion', raw: Record<string, unknown>, from: SenderIdentity) => {
    const n = normalizer.normalize(kind, raw, receivedAt);
    if (!n.ok) throw new Error(JSON.stringify(n.errors));
    return applyTrust(
      n.event as ClickEvent | ConversionEvent,
      from,
      { ts: raw.ts !== undefined, id: raw.id !== undefined },
      options,
      (id) => offers.get(id),
    );
  };
  const click = { offerId: 'shoes', publisherId: 'blog', ip: '203.0.113.7', userAgent: 'Mozilla/5.0' };
  const fields = (r: ReturnType<typeof sut>) => (r.ok ? [] : r.errors.map((e) => e.field));

  it.each<[string, 'click' | 'conversion', Record<string, unknown>, SenderIdentity, string[]]>([
    ['a publisher click for itself', 'click', click, { sender: 'publisher', id: 'blog' }, []],
    ['a publisher click for another publisher', 'click', click, { sender: 'publisher', id: 'rival' }, ['publisherId']],
    [
      'a labelled publisher click',
      'click',
      { ...click, label: 'legit', pattern: 'human' },
      { sender: 'publisher', id: 'blog' },
      ['label', 'pattern'],
    ],
    ['a click reported 2 h ago', 'click', { ...click, ts: '2026-06-01T10:00:00Z' }, { sender: 'publisher', id: 'blog' }, ['ts']],
    [
      'a publisher click spelled like an engine-minted id (the ledger cannot see the original)',
      'click',
      { ...click, id: 'c0.0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b' },
      { sender: 'publisher', id: 'blog' },
      ['id'],
    ],
    ['a publisher click with its own id', 'click', { ...click, id: 'blog-click-1' }, { sender: 'publisher', id: 'blog' }, []],
    ['an admin click from 1970', 'click', { ...click, ts: '1970-01-01T00:00:00Z', label: 'fraud' }, { sender: 'admin' }, []],
    ['an advertiser payout', 'conversion', { clickId: 'c', amount: 1, payout: 9 }, { sender: 'advertiser', id: 'shop' }, ['payout']],
    ['an admin payout', 'conversion', { clickId: 'c', amount: 1, payout: 9 }, { sender: 'admin' }, []],
    [
      'another advertiser’s offer',
      'conversion',
      { clickId: 'c', amount: 1, offerId: 'hats' },
      { sender: 'advertiser', id: 'shop' },
      ['offerId'],
    ],
    [
      'an unknown offer (a verdict reason, not an error)',
      'conversion',
      { clickId: 'c', amount: 1, offerId: 'nope' },
      { sender: 'advertiser', id: 'shop' },
      [],
    ],
    ['a pixel on an open offer', 'conversion', { clickId: 'c', amount: 1, offerId: 'hats' }, { sender: 'pixel' }, []],
    ['a pixel on a closed offer', 'conversion', { clickId: 'c', amount: 1, offerId: 'shoes' }, { sender: 'pixel' }, ['offerId']],
    ['a pixel without an offer', 'conversion', { clickId: 'c', amount: 1 }, { sender: 'pixel' }, ['offerId']],
  ])('%s', (_name, kind, raw, from, refused) => {
    expect(fields(sut(kind, raw, from))).toEqual(refused);
  });

  it('runs a partner click on its receipt and keeps the reported time beside it', () => {
    const r = sut('click', { ...click, ts: '2026-06-01T11:30:00Z' }, { sender: 'publisher', id: 'blog' });
    expect(r.ok && [r.event.ts, (r.event as { reportedTs?: string }).reportedTs, r.event.sender, r.event.senderId]).toEqual([
      '2026-06-01T12:00:00.000Z',
      '2026-06-01T11:30:00.000Z',
      'publisher',
      'blog',
    ]);
  });

  it('adds the provenance and nothing else (built without spreads: the same keys, no undefined ones)', () => {
    const r = sut('click', click, { sender: 'publisher', id: 'blog' });
    expect(r.ok && r.event).toStrictEqual({
      ...click,
      kind: 'click',
      id: expect.any(String),
      ts: '2026-06-01T12:00:00.000Z',
      receivedAt: '2026-06-01T12:00:00.000Z',
      partition: 0,
      ipCountry: null,
      idMinted: true,
      sender: 'publisher',
      senderId: 'blog',
    });
    const admin = sut('conversion', { clickId: 'c', amount: 1 }, { sender: 'admin' });
    expect(admin.ok && Object.keys(admin.event)).toEqual([
      'clickId',
      'amount',
      'kind',
      'id',
      'ts',
      'receivedAt',
      'partition',
      'ipCountry',
      'sender',
    ]);
  });

  it('makes an id a sender chose an id within that sender; the admin keeps its ids', () => {
    const id = (kind: 'click' | 'conversion', raw: Record<string, unknown>, from: SenderIdentity) => {
      const r = sut(kind, raw, from);
      if (!r.ok) throw new Error(JSON.stringify(r.errors));
      return r.event.id;
    };
    const blog = id('click', { ...click, id: 'txn-1001' }, { sender: 'publisher', id: 'blog' });
    // The same publisher's retry is the same event; another publisher's same id is another one.
    expect(id('click', { ...click, id: 'txn-1001' }, { sender: 'publisher', id: 'blog' })).toBe(blog);
    expect(id('click', { ...click, publisherId: 'rival', id: 'txn-1001' }, { sender: 'publisher', id: 'rival' })).not.toBe(blog);
    expect(blog).toBe(scopedEventId('publisher:blog', 'txn-1001'));
    expect(hasScopedShape(blog) && !hasMintedClickShape(blog)).toBe(true);
    expect(id('click', { ...click, id: 'txn-1001' }, { sender: 'admin' })).toBe('txn-1001');
    // Conversions: per advertiser (key or token alike); an open pixel per offer, never an advertiser's.
    const order = { clickId: 'c', amount: 1, id: 'ORDER-1' };
    const shop = id('conversion', order, { sender: 'advertiser', id: 'shop' });
    expect(shop).toBe(scopedEventId('advertiser:shop', 'ORDER-1'));
    expect(id('conversion', order, { sender: 'advertiser', id: 'other' })).not.toBe(shop);
    const pixel = id('conversion', { ...order, offerId: 'hats' }, { sender: 'pixel' });
    expect(pixel).toBe(scopedEventId('pixel:hats', 'ORDER-1'));
    expect([shop, scopedEventId('advertiser:other', 'ORDER-1')]).not.toContain(pixel);
    expect(id('conversion', order, { sender: 'admin' })).toBe('ORDER-1');
    // Minted ids stay minted.
    expect(hasScopedShape(id('conversion', { clickId: 'c', amount: 1 }, { sender: 'advertiser', id: 'shop' }))).toBe(false);
  });

  it('refuses a derived id sent back by a non-admin sender (it would be derived again into another event)', () => {
    const derived = scopedEventId('publisher:blog', 'txn-1001');
    expect(fields(sut('click', { ...click, id: derived }, { sender: 'publisher', id: 'blog' }))).toEqual(['id']);
    expect(fields(sut('conversion', { clickId: 'c', amount: 1, id: derived }, { sender: 'advertiser', id: 'shop' }))).toEqual(['id']);
    expect(fields(sut('click', { ...click, id: derived }, { sender: 'admin' }))).toEqual([]);
  });

  it('lets a conversion time shorten a CTIT but never pass its receipt', () => {
    const from: SenderIdentity = { sender: 'advertiser', id: 'shop' };
    const later = sut('conversion', { clickId: 'c', amount: 1, ts: '2026-06-01T12:04:50Z' }, from);
    const earlier = sut('conversion', { clickId: 'c', amount: 1, ts: '2026-06-01T11:59:00Z' }, from);
    expect(later.ok && later.event.ts).toBe('2026-06-01T12:00:00.000Z');
    expect(earlier.ok && earlier.event.ts).toBe('2026-06-01T11:59:00.000Z');
  });
});
