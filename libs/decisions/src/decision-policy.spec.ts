import { Reason, Severity } from '@app/contracts';
import { DEFAULT_POLICY } from '@app/rules';
import { decideConversion, judgeClick, riskOf } from './decision-policy';

const reason = (severity: Severity, overrides: Partial<Reason> = {}): Reason => ({
  code: 'GEO_MISMATCH',
  category: 'SIVT',
  severity,
  message: 'm',
  evidence: {},
  monitorOnly: false,
  ...overrides,
});

describe('decision policy', () => {
  it.each([
    [[], 0, 'approved'],
    [['low'], 0.15, 'approved'],
    [['low', 'low'], 0.2775, 'approved'],
    [['low', 'low', 'low'], 0.3859, 'hold'],
    [['medium'], 0.4, 'hold'],
    [['medium', 'medium'], 0.64, 'hold'],
    [['medium', 'medium', 'low'], 0.694, 'hold'],
    [['high'], 0.75, 'rejected'],
    [['medium', 'medium', 'medium'], 0.784, 'rejected'],
    [['critical'], 1, 'rejected'],
  ] as [Severity[], number, string][])('reasons %j → risk %s → %s', (severities, score, status) => {
    const reasons = severities.map((s) => reason(s));
    expect(riskOf(reasons, DEFAULT_POLICY).score).toBeCloseTo(score, 4);
    expect(decideConversion(reasons, DEFAULT_POLICY).status).toBe(status);
  });

  it('a critical reason rejects whatever the thresholds', () => {
    const lenient = { holdThreshold: 1, rejectThreshold: 1 };
    expect(decideConversion([reason('critical')], DEFAULT_POLICY, lenient).status).toBe('rejected');
  });

  it('monitor-only reasons add no risk', () => {
    expect(decideConversion([reason('critical', { monitorOnly: true }), reason('high', { monitorOnly: true })], DEFAULT_POLICY)).toEqual({
      status: 'approved',
      score: 0,
    });
  });

  it('an offer can tighten or loosen its thresholds', () => {
    const reasons = [reason('medium')];
    expect(decideConversion(reasons, DEFAULT_POLICY, { holdThreshold: null, rejectThreshold: 0.4 }).status).toBe('rejected');
    expect(decideConversion(reasons, DEFAULT_POLICY, { holdThreshold: 0.5, rejectThreshold: null }).status).toBe('approved');
  });

  it('a hold threshold above the reject threshold cannot hide a rejection', () => {
    expect(decideConversion([reason('high')], DEFAULT_POLICY, { holdThreshold: 0.9, rejectThreshold: 0.7 }).status).toBe('rejected');
  });

  it('judges a click invalid from the click threshold, with the gravest category', () => {
    expect(judgeClick([reason('medium')], DEFAULT_POLICY)).toEqual({ valid: true, score: 0.4, category: null });
    expect(judgeClick([reason('high')], DEFAULT_POLICY)).toEqual({ valid: false, score: 0.75, category: 'SIVT' });
    expect(judgeClick([reason('high'), reason('critical', { category: 'GIVT', code: 'BOT_USER_AGENT' })], DEFAULT_POLICY)).toMatchObject({
      valid: false,
      category: 'GIVT',
    });
  });
});
