import { REASON_CODES, StoredReason as StoredReasonSchema, compiled, fullReasons, storedReasons } from '@app/contracts';
import type { Evidence, Reason, StoredReason } from '@app/contracts';
import { DEFAULT_RULESET } from '@app/rules';
import { aCatalog, aClick, aReason } from '@app/testing';
import { ScoringEngine } from './scoring-engine';

/** What a jsonb column gives back for a value: its objects' keys shorter first, then by bytes. */
function asJsonb<T>(v: T): T {
  if (Array.isArray(v)) return v.map(asJsonb) as T;
  if (!v || typeof v !== 'object') return v;
  const keys = Object.keys(v).sort((a, b) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(keys.map((k) => [k, asJsonb((v as Record<string, unknown>)[k])])) as T;
}

/** Stored through JSON into a jsonb column, read back whole. */
const readBack = (reasons: readonly Reason[]): Reason[] => fullReasons(asJsonb(JSON.parse(JSON.stringify(storedReasons(reasons)))));
/** What the column gave back before: the reasons stored whole. */
const servedBefore = (reasons: readonly Reason[]): string => JSON.stringify(asJsonb(reasons));

const explained = (): Evidence => ({
  probability: 0.93,
  threshold: 0.5,
  model: 'm-1',
  authority: 'advisory',
  basis: 'trained on simulated traffic',
  explanation: 'per-event',
  bias: 0.33,
  contributions: [
    { feature: 'rules_risk', value: 1, typicalLegit: 0, contribution: 0.29 },
    { feature: 'ip_datacenter', value: null, typicalLegit: 0, contribution: 0.016 },
    { feature: 'payout_share', value: 0.1, typicalLegit: 0.1, contribution: -0.02 },
  ],
  drivers: 'rules_risk 1 (legitimate typically 0) +0.29; ip_datacenter unknown (legitimate typically 0) +0.016',
});

const unexplained = (): Evidence => ({
  probability: 0.93,
  threshold: 0.5,
  model: 'm-0',
  authority: 'deciding',
  basis: 'held-out precision 0.97',
  explanation: 'none',
  drivers: 'ip_clicks_1h, ctit_log_seconds',
});

const validStored = compiled(StoredReasonSchema);

describe('reasons as stored (without what the catalogue gives back)', () => {
  it('leaves out category, message and MODEL_RISK drivers, and reads back as the whole reasons read back before', () => {
    const reasons = [aReason('MODEL_RISK', explained()), aReason('IP_VELOCITY', { window: 'minute', count: 37, limit: 20 })];
    const stored = storedReasons(reasons);
    expect(stored).toEqual([
      { code: 'MODEL_RISK', severity: 'high', evidence: { ...explained(), drivers: undefined }, monitorOnly: false },
      { code: 'IP_VELOCITY', severity: reasons[1].severity, evidence: reasons[1].evidence, monitorOnly: false },
    ]);
    const text = JSON.stringify(stored);
    expect(text).not.toContain('drivers');
    expect(text).not.toContain('message');
    expect(text).not.toContain('category');
    expect(JSON.stringify(readBack(reasons))).toBe(servedBefore(reasons));
    expect(readBack(reasons)).toEqual(reasons);
    for (const r of stored) expect(validStored.check(r).ok).toBe(true);
  });

  it('keeps MODEL_RISK drivers it cannot give back: a model without per-event explanations, drivers not the rows’ own, rows without drivers', () => {
    const own = aReason('MODEL_RISK', unexplained());
    const otherDrivers = aReason('MODEL_RISK', { ...explained(), drivers: 'written by hand' });
    const { drivers, ...withoutDrivers } = explained();
    const noDrivers = aReason('MODEL_RISK', withoutDrivers);
    const stored = storedReasons([own, otherDrivers, noDrivers]);
    expect(stored[0]).toEqual({ code: 'MODEL_RISK', severity: 'high', evidence: unexplained(), monitorOnly: false });
    expect(stored[1].evidence.drivers).toBe('written by hand');
    expect(stored[1].message).toBeUndefined();
    // Reading it back would add drivers it never had: kept whole.
    expect(stored[2]).toBe(noDrivers);
    expect(drivers).toBeDefined();
    for (const r of [own, otherDrivers, noDrivers]) expect(JSON.stringify(readBack([r]))).toBe(servedBefore([r]));
  });

  it('keeps whole a reason whose message or category is not the catalogue’s, or whose evidence JSON would change', () => {
    const evidence = { window: 'minute', count: 37, limit: 20 };
    const handWritten = aReason('IP_VELOCITY', evidence, { message: 'Too many clicks (an older release said).' });
    const otherCategory = aReason('IP_VELOCITY', evidence, { category: REASON_CODES.IP_VELOCITY.category === 'GIVT' ? 'SIVT' : 'GIVT' });
    const notJson = aReason('IP_VELOCITY', { ...evidence, count: Number.NaN });
    const reordered = { ...aReason('IP_VELOCITY', evidence) };
    const { code, ...rest } = reordered;
    const otherOrder = { ...rest, code } as Reason;
    const sut = storedReasons([handWritten, otherCategory, notJson, otherOrder]);
    expect(sut[0]).toBe(handWritten);
    expect(sut[1]).toBe(otherCategory);
    expect(sut[2]).toBe(notJson);
    expect(sut[3]).toBe(otherOrder);
    expect(JSON.stringify(readBack([handWritten, otherCategory]))).toBe(servedBefore([handWritten, otherCategory]));
  });

  it('reads older rows (reasons stored whole) back unchanged, the same array', () => {
    const row = asJsonb(JSON.parse(JSON.stringify([aReason('MODEL_RISK', explained()), aReason('MODEL_RISK', unexplained())])));
    expect(fullReasons(row)).toBe(row);
    expect(JSON.stringify(fullReasons(row))).toBe(JSON.stringify(row));
  });

  it('serves a stored reason of a code it does not know (a later release’s) with a message naming it and category null', () => {
    const later = { code: 'LATER_CODE', severity: 'high', evidence: { n: 1 }, monitorOnly: false } as unknown as StoredReason;
    const [served] = fullReasons([later]);
    expect(served).toEqual({ ...later, message: expect.stringContaining('LATER_CODE'), category: null });
    // A whole one (a later release's reason stored with its text) is served as stored.
    const whole = { ...later, category: 'SIVT', message: 'Later words.' } as unknown as StoredReason;
    expect(fullReasons([whole])[0]).toBe(whole);
  });

  it('keeps evidence with tables and monitor-only reasons through a mix of stored and whole reasons', () => {
    const table = aReason('MODEL_RISK', explained(), { monitorOnly: true });
    const whole = aReason('IP_VELOCITY', { window: 'minute', count: 37, limit: 20 }, { message: 'hand-written' });
    const reasons = [table, whole, aReason('BOT_USER_AGENT', { bot: 'curl', operator: null })];
    expect(JSON.stringify(readBack(reasons))).toBe(servedBefore(reasons));
    expect(readBack(reasons)[0].evidence.contributions).toEqual(explained().contributions);
  });

  it('trusts a built reason’s message and drivers without formatting them again (the engine’s, as its rules returned them)', () => {
    const reasons = [aReason('MODEL_RISK', explained())];
    expect(storedReasons(reasons, true)).toEqual(storedReasons(reasons));
  });

  it('gives the engine’s verdicts back whole, their MODEL_RISK too', () => {
    const engine = new ScoringEngine(DEFAULT_RULESET);
    const catalog = aCatalog();
    for (const ua of ['curl/8.4.0', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36']) {
      const click = aClick({ userAgent: ua });
      const verdict = engine.scoreClick(click, catalog, Date.parse(click.receivedAt));
      const reasons = [...verdict.reasons, aReason('MODEL_RISK', explained())];
      expect(JSON.stringify(readBack(reasons))).toBe(servedBefore(reasons));
      expect(JSON.stringify(storedReasons(reasons)).length).toBeLessThan(JSON.stringify(reasons).length * 0.7);
    }
  });

  it('is checked by its own schema: category and message both there or both left out, nothing else added', () => {
    const whole = aReason('IP_VELOCITY', { window: 'minute', count: 37, limit: 20 });
    const [slim] = storedReasons([whole]);
    expect(validStored.check(whole).ok).toBe(true);
    expect(validStored.check(slim).ok).toBe(true);
    const { message, ...noMessage } = whole;
    const { category, ...noCategory } = whole;
    expect(message && category).toBeTruthy();
    expect(validStored.check(noMessage).ok).toBe(false);
    expect(validStored.check(noCategory).ok).toBe(false);
    expect(validStored.check({ ...slim, drivers: 'x' }).ok).toBe(false);
    expect(validStored.check({ ...slim, code: 'NOT_A_CODE' }).ok).toBe(false);
    const { evidence, ...noEvidence } = slim as StoredReason;
    expect(evidence).toBeDefined();
    expect(validStored.check(noEvidence).ok).toBe(false);
  });
});
