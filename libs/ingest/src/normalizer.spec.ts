import { EventNormalizer } from './normalizer';

/** Values the schema lets through but the engine could never store or represent (found by test/faults/poison.test.ts). */
describe('EventNormalizer: values at the edge of what can be stored', () => {
  const sut = new EventNormalizer({ partitions: 1, maxFutureSkewMs: 300_000, geo: () => null });
  const receivedAt = new Date('2026-06-01T12:00:00Z');
  const click = { offerId: 'o', publisherId: 'p', ip: '203.0.113.7', userAgent: 'Mozilla/5.0' };
  const conversion = { clickId: 'c0.x', amount: 10 };

  it.each([
    ['a leap second', '2016-12-31T23:59:60Z', false],
    ['an ordinary time', '2016-12-31T23:59:59Z', true],
  ])('ts on %s', (_name, ts, ok) => {
    const result = sut.normalize('click', { ...click, ts }, receivedAt);
    expect(result.ok).toBe(ok);
    if (!result.ok) expect(result.errors[0].field).toBe('ts');
  });

  it.each([
    [999_999_999_999.99, true],
    [1e12, false],
  ])('amount %d (numeric(16, 4) holds 12 integer digits)', (amount, ok) => {
    expect(sut.normalize('conversion', { ...conversion, amount }, receivedAt).ok).toBe(ok);
  });
});

/** The recorder trusts `idMinted` to skip the idempotency ledger: only the engine may set it. */
describe('EventNormalizer: engine-minted ids', () => {
  const sut = new EventNormalizer({ partitions: 4, maxFutureSkewMs: 300_000, geo: () => null });
  const receivedAt = new Date('2026-06-01T12:00:00Z');
  const click = { offerId: 'o', publisherId: 'p', ip: '203.0.113.7', userAgent: 'Mozilla/5.0' };

  it('marks a click whose id it minted, and not one whose id the sender chose', () => {
    const minted = sut.normalize('click', click, receivedAt);
    const chosen = sut.normalize('click', { ...click, id: 'partner-1' }, receivedAt);
    expect(minted.ok && minted.event.idMinted).toBe(true);
    expect(chosen.ok && chosen.event.idMinted).toBeUndefined();
  });

  it('refuses a sender that claims the engine minted its id', () => {
    const forged = sut.normalize('click', { ...click, id: 'c0.x', idMinted: true }, receivedAt);
    expect(forged.ok).toBe(false);
  });
});

/** The stored form is built without object spreads (they cost V8 a runtime call per property): nothing more, nothing less. */
describe('EventNormalizer: the stored form', () => {
  const sut = new EventNormalizer({ partitions: 1, maxFutureSkewMs: 300_000, geo: () => 'AU' });
  const receivedAt = new Date('2026-06-01T12:00:00.000Z');

  it('is the input and the fields the engine completes, with no undefined fields', () => {
    const click = { offerId: 'o', publisherId: 'p', subId: 's', ip: '203.0.113.7', userAgent: 'Mozilla/5.0' };
    const result = sut.normalize('click', click, receivedAt);
    if (!result.ok) throw new Error('refused');
    expect(result.event).toStrictEqual({
      ...click,
      kind: 'click',
      id: expect.stringMatching(/^c0\./),
      ts: '2026-06-01T12:00:00.000Z',
      receivedAt: '2026-06-01T12:00:00.000Z',
      partition: 0,
      ipCountry: 'AU',
      idMinted: true,
    });
    expect(Object.keys(result.event)).toEqual([
      ...Object.keys(click),
      'kind',
      'id',
      'ts',
      'receivedAt',
      'partition',
      'ipCountry',
      'idMinted',
    ]);
  });

  it('keeps a sender’s id and time in their place, the time in the canonical spelling', () => {
    const conversion = { id: 'v-1', ts: '2026-06-01T13:00:00+02:00', clickId: 'c0.x', amount: 10 };
    const result = sut.normalize('conversion', conversion, receivedAt);
    if (!result.ok) throw new Error('refused');
    expect(result.event).toStrictEqual({
      ...conversion,
      ts: '2026-06-01T11:00:00.000Z',
      kind: 'conversion',
      receivedAt: '2026-06-01T12:00:00.000Z',
      partition: 0,
      ipCountry: null,
    });
    expect(Object.keys(result.event).slice(0, 2)).toEqual(['id', 'ts']);
  });

  it('spells each receive time of its own (a batch shares one; the next batch has another)', () => {
    const click = { offerId: 'o', publisherId: 'p', ip: '203.0.113.7', userAgent: 'Mozilla/5.0' };
    const at = new Date('2026-06-01T12:00:00.000Z');
    const first = sut.normalize('click', click, at);
    at.setTime(at.getTime() + 1);
    const second = sut.normalize('click', click, at);
    expect(first.ok && first.event.receivedAt).toBe('2026-06-01T12:00:00.000Z');
    expect(second.ok && second.event.receivedAt).toBe('2026-06-01T12:00:00.001Z');
  });
});

/** `GET /c/offer?pub=p&sub=` (a publisher's sub-id macro left blank) and `GET /c/offer?pub=p`: one "no sub-id". */
describe('EventNormalizer: a sub-id sent empty', () => {
  const sut = new EventNormalizer({ partitions: 1, maxFutureSkewMs: 300_000, geo: () => null });
  const receivedAt = new Date('2026-06-01T12:00:00Z');
  const click = { offerId: 'o', publisherId: 'p', ip: '203.0.113.7', userAgent: 'Mozilla/5.0' };

  it('is a sub-id not sent', () => {
    const empty = sut.normalize('click', { ...click, subId: '' }, receivedAt);
    const absent = sut.normalize('click', click, receivedAt);
    if (!empty.ok || !absent.ok) throw new Error('refused');
    expect('subId' in empty.event).toBe(false);
    expect({ ...empty.event, id: '' }).toStrictEqual({ ...absent.event, id: '' });
  });

  it('leaves a sub-id that is there as it is', () => {
    const result = sut.normalize('click', { ...click, subId: ' ' }, receivedAt);
    expect(result.ok && result.event.subId).toBe(' ');
  });
});

/** A placeholder device id (limited ad tracking's zeros, an unexpanded macro) names nobody: it is dropped. */
describe('EventNormalizer: placeholder device ids', () => {
  const sut = new EventNormalizer({ partitions: 1, maxFutureSkewMs: 300_000, geo: () => null });
  const receivedAt = new Date('2026-06-01T12:00:00Z');
  const click = { offerId: 'o', publisherId: 'p', ip: '203.0.113.7', userAgent: 'Mozilla/5.0' };
  const conversion = { clickId: 'c0.x', amount: 10 };

  it.each([
    '00000000-0000-0000-0000-000000000000',
    '00000000000000000000000000000000',
    '',
    ' ',
    '{idfa}',
    '{{device_id}}',
    '${GAID}',
    '%%ADVERTISING_ID%%',
    '__IDFA__',
    '[idfa]',
    'NULL',
    'undefined',
    'Unknown',
    'n/a',
  ])('%j is dropped from a click and a conversion', (deviceId) => {
    const c = sut.normalize('click', { ...click, deviceId }, receivedAt);
    const v = sut.normalize('conversion', { ...conversion, deviceId }, receivedAt);
    expect(c.ok && c.event.deviceId).toBeUndefined();
    expect(v.ok && v.event.deviceId).toBeUndefined();
  });

  it.each(['00000000-0000-0000-0000-000000000001', '6d2f9a0e-5c1b-4f7e-9a3d-2b8c4e1f0a77', 'device-{1}', '0x00', 'nullable'])(
    '%j is a device id and kept',
    (deviceId) => {
      const c = sut.normalize('click', { ...click, deviceId }, receivedAt);
      expect(c.ok && c.event.deviceId).toBe(deviceId);
    },
  );
});
