import type { ClickVerdict, Decision } from '@app/contracts';
import { EvaluationCollector } from '@app/evaluation';
import { evaluationMarkdown } from './evaluation-markdown';

const reason = (code: string) => ({ code, category: 'GIVT', severity: 'high', message: code, evidence: {}, monitorOnly: false });
const verdict = (codes: string[]) =>
  ({
    clickId: 'c0.1',
    valid: codes.length === 0,
    score: codes.length ? 1 : 0,
    modelScore: null,
    shadowScore: null,
    reasons: codes.map(reason),
  }) as unknown as ClickVerdict;
const decision = (revision: number, status: string, codes: string[]) =>
  ({
    conversionId: 'v-1',
    revision,
    status,
    resolvedBy: 'engine',
    score: 0.5,
    modelScore: null,
    shadowScore: null,
    reasons: codes.map(reason),
  }) as unknown as Decision;

describe('evaluate: every reason code of the catalogue with its count', () => {
  it('counts each code once per event over its revisions, shows – where a code does not apply and names the silent ones', () => {
    const sut = new EvaluationCollector();
    sut.verdict(verdict(['BOT_USER_AGENT', 'DATACENTER_IP']), { label: 'fraud' });
    sut.verdict(verdict(['BOT_USER_AGENT']), {}); // warm-up: unlabelled, still counted
    sut.decision(decision(0, 'hold', ['GEO_MISMATCH']), { label: 'legit' });
    sut.revision(decision(1, 'rejected', ['GEO_MISMATCH', 'ADVERTISER_REJECTED']));
    sut.revision(decision(2, 'rejected', ['GEO_MISMATCH', 'ADVERTISER_REJECTED', 'ANALYST_OVERRIDE']));
    const report = sut.report();

    const md = evaluationMarkdown(report, {
      file: 'f.ndjson',
      summary: {
        lines: 5,
        clicks: 2,
        conversions: 1,
        feedback: 2,
        feedbackRepeated: 1,
        feedbackIdsReused: 0,
        invalid: 0,
        openCatalog: false,
      },
      ruleset: 'builtin-1',
      model: null,
    });
    expect(md).toContain('2 feedback events (1 repeated on its conversion, applied once)');
    const table = md.slice(md.indexOf('### Every reason code'));
    expect(table).toContain('| `BOT_USER_AGENT` | GIVT | 2 | – |');
    expect(table).toContain('| `DATACENTER_IP` | GIVT | 1 | – |');
    expect(table).toContain('| `GEO_MISMATCH` | SIVT | 0 | 1 |');
    expect(table).toContain('| `ADVERTISER_REJECTED` | SIVT | – | 1 |');
    expect(table).toContain('| `ANALYST_OVERRIDE` | SIVT | – | 1 |');
    expect(table).toMatch(/Never fired here: .*`INVALID_IP` \(clicks\).*`GEO_MISMATCH` \(clicks\).*`CLICK_SPAM_PATTERN` \(conversions\)/);
    expect(table).not.toMatch(/Never fired here: .*`BOT_USER_AGENT`/);
  });
});
