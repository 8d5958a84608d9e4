import { maskEvidence, maskIp } from './privacy';

describe('maskIp', () => {
  it.each([
    ['203.0.113.77', '203.0.113.x'],
    ['2001:db8:85a3:8d3:1319:8a2e:370:7348', '2001:db8:85a3::/48'],
    ['::ffff:198.51.100.9', '198.51.100.x'],
    ['not-an-ip', 'not-an-ip'],
    ['', ''],
  ])('%s → %s', (ip, masked) => expect(maskIp(ip)).toBe(masked));

  it('masks addresses inside evidence and leaves the rest', () => {
    expect(maskEvidence({ list: 'IP address', value: '8.8.4.4', count: 3, range: '104.131.0.0/16 DigitalOcean' })).toEqual({
      list: 'IP address',
      value: '8.8.4.x',
      count: 3,
      range: '104.131.0.0/16 DigitalOcean',
    });
  });
});
