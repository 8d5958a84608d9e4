import { maskEvidence, maskIp, publisherReason } from './privacy';
import { REASON_CODES } from './reason-codes';

describe('maskIp', () => {
  it.each([
    ['203.0.113.77', '203.0.113.x'],
    ['2001:db8:85a3:8d3:1319:8a2e:370:7348', '2001:db8:85a3::/48'],
    ['::ffff:198.51.100.9', '198.51.100.x'],
    ['not-an-ip', 'not-an-ip'],
    ['', ''],
  ])('%s → %s', (ip, masked) => expect(maskIp(ip)).toBe(masked));

  it('masks addresses in the rows of an evidence table too', () => {
    expect(maskEvidence({ rows: [{ ip: '203.0.113.77', count: 3 }], count: 1 })).toEqual({
      rows: [{ ip: '203.0.113.x', count: 3 }],
      count: 1,
    });
  });

  it('masks addresses inside evidence and leaves the rest', () => {
    expect(maskEvidence({ list: 'IP address', value: '8.8.4.4', count: 3, range: '104.131.0.0/16 DigitalOcean' })).toEqual({
      list: 'IP address',
      value: '8.8.4.x',
      count: 3,
      range: '104.131.0.0/16 DigitalOcean',
    });
  });
});

describe('publisherReason: what a publisher may read', () => {
  it('rebuilds the message from masked evidence (the stored one quotes the full address)', () => {
    const sut = publisherReason({
      code: 'DENY_LISTED',
      evidence: { list: 'IP address', value: '81.2.69.99' },
      message: 'The IP address "81.2.69.99" is on the network\'s deny list.',
    });
    expect(sut).toEqual({
      message: 'The IP address "81.2.69.x" is on the network\'s deny list.',
      evidence: { list: 'IP address', value: '81.2.69.x' },
    });
  });

  it('gives no model numbers', () => {
    const sut = publisherReason({
      code: 'MODEL_RISK',
      evidence: { probability: 0.93, threshold: 0.8, model: 'sim-1', drivers: 'ctit_log_seconds=0.3' },
      message: 'The fraud model (sim-1) rates this 93.0 % likely fraudulent…',
    });
    expect(sut).toEqual({ message: "The network's fraud model rates this traffic as likely fraudulent.", evidence: {} });
  });

  it('gives nothing of the model’s explanation of the event (contributions, values, prior)', () => {
    const sut = publisherReason({ code: 'MODEL_RISK', evidence: REASON_CODES.MODEL_RISK.example, message: '' });
    expect(sut).toEqual({ message: "The network's fraud model rates this traffic as likely fraudulent.", evidence: {} });
  });

  it("gives no analyst's note", () => {
    const sut = publisherReason({
      code: 'ANALYST_OVERRIDE',
      evidence: { status: 'rejected', note: 'reseller: see ticket 42' },
      message: '',
    });
    expect(sut).toEqual({ message: 'A risk analyst rejected this conversion.', evidence: { status: 'rejected' } });
  });
});
