import ipaddr from 'ipaddr.js';
import { classifyIp, ipv4Number } from './ip';

describe('classifyIp', () => {
  it.each([
    ['8.8.8.8', true, 'unicast'],
    ['2001:4860:4860::8888', true, 'unicast'],
    ['10.1.2.3', false, 'private'],
    ['192.168.0.10', false, 'private'],
    ['127.0.0.1', false, 'loopback'],
    ['169.254.1.1', false, 'linkLocal'],
    ['0.0.0.0', false, 'unspecified'],
    ['255.255.255.255', false, 'broadcast'],
    ['::1', false, 'loopback'],
    ['::ffff:10.0.0.1', false, 'private'],
    ['999.1.1.1', false, 'malformed'],
    ['10.1', false, 'malformed'],
    ['', false, 'malformed'],
    ['not-an-ip', false, 'malformed'],
  ])('%s → valid=%s range=%s', (ip, valid, range) => {
    const sut = classifyIp(ip);
    expect(sut.valid).toBe(valid);
    expect(sut.range).toBe(range);
  });

  it('reduces an IPv4-mapped IPv6 address to IPv4', () => {
    expect(classifyIp('::ffff:8.8.4.4').normalized).toBe('8.8.4.4');
  });
});

describe('ipv4Number (the fast path) agrees with ipaddr.js', () => {
  it.each(['0.0.0.0', '8.8.8.8', '255.255.255.255', '10.0.0.1', '192.168.1.254', '1.2.3.4'])('%s', (ip) => {
    const [a, b, c, d] = ipaddr.parse(ip).toByteArray();
    expect(ipv4Number(ip)).toBe(((a << 24) >>> 0) + (b << 16) + (c << 8) + d);
  });

  it.each(['01.2.3.4', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1..2.3', '1.2.3.4 ', '::1', '1.2.3.a', '', '1.2.3.'])('refuses %j', (ip) => {
    expect(ipv4Number(ip)).toBe(-1);
  });

  it('classifies 20,000 random addresses exactly as the general path does', () => {
    let seed = 3;
    const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    for (let i = 0; i < 20_000; i++) {
      const n = rand();
      const ip = `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
      expect(classifyIp(ip)).toMatchObject({
        valid: ipaddr.parse(ip).range() === 'unicast',
        version: 4,
        range: ipaddr.parse(ip).range(),
        normalized: ip,
      });
    }
  });
});
