import fc from 'fast-check';
import { ClickInput, ConversionInput, FeedbackInput } from './events.schema';
import { compiled } from './validation';

/**
 * Every string a sender writes must be one PostgreSQL can store, in a text column and inside jsonb
 * (a reason's evidence quotes the user agent and sub-ids): a NUL or a lone surrogate accepted here
 * would be dead-lettered after the 202, with its verdict, on every replay (review-wire finding 3).
 */
describe('sender text the contracts accept is storable', () => {
  const click = compiled(ClickInput);
  const base = { offerId: 'o1', publisherId: 'p1', ip: '203.0.113.7', userAgent: 'Mozilla/5.0' };
  // No NUL, and no surrogate outside a pair (`String.prototype.isWellFormed`, not in this TS lib).
  const storable = (s: string) => !s.includes('\u0000') && !/\p{Surrogate}/u.test(s);

  it.each(['userAgent', 'referrer', 'ip', 'subId', 'deviceId', 'offerId', 'publisherId'])(
    'refuses NUL and a lone surrogate in %s, naming it, and keeps a pair',
    (field) => {
      for (const bad of ['a\u0000b', 'a\ud800b', 'a\udc00', '\ud83d']) {
        const r = click.check({ ...base, [field]: bad });
        expect(r.ok).toBe(false);
        if (!r.ok) expect(r.errors.map((e) => e.field)).toEqual([field]);
      }
      expect(click.check({ ...base, [field]: 'a\u{1F600}b' }).ok).toBe(true);
    },
  );

  it('says why in the words every other endpoint uses for the same text (the HTTP edge)', () => {
    const nul = click.check({ ...base, userAgent: 'a\u0000b' });
    const lone = click.check({ ...base, subIds: { sub2: 'x\ud800' } });
    expect(nul.ok ? [] : nul.errors).toEqual([{ field: 'userAgent', message: 'must not contain the NUL character (U+0000)' }]);
    expect(lone.ok ? [] : lone.errors).toEqual([
      {
        field: 'subIds.sub2',
        message: 'must not contain an unpaired surrogate (U+D800-U+DFFF) or bytes that are not UTF-8: not Unicode text',
      },
    ]);
    // Other pattern errors keep their own words.
    const spaced = click.check({ ...base, id: 'has space' });
    expect(spaced.ok ? [] : spaced.errors[0].message).toMatch(/must match pattern/);
  });

  it('refuses them in sub ids, order ids, conversion user agents and feedback reasons', () => {
    expect(click.check({ ...base, subIds: { sub3: 'x\ud800' } }).ok).toBe(false);
    const conversion = compiled(ConversionInput);
    expect(conversion.check({ clickId: 'c1', amount: 1, orderId: 'o\udfff' }).ok).toBe(false);
    expect(conversion.check({ clickId: 'c1', amount: 1, userAgent: 'x\u0000' }).ok).toBe(false);
    expect(compiled(FeedbackInput).check({ conversionId: 'v1', status: 'rejected', reason: 'r\u0000' }).ok).toBe(false);
  });

  it('accepts a user agent or referrer exactly when PostgreSQL can store it', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 }), (ua, ref) => {
        expect(click.check({ ...base, userAgent: ua, referrer: ref }).ok).toBe(storable(ua) && storable(ref));
      }),
      { numRuns: 2000 },
    );
  });
});
