import ipaddr from 'ipaddr.js';
import { classifyIp, ipv4Number, v4Range } from './ip';

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

describe('v4Range (the fast path) agrees with ipaddr.js', () => {
  const ofNumber = (v: number) => new ipaddr.IPv4([v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255]).range();
  const ranges = Object.values(
    (ipaddr.IPv4.prototype as unknown as { SpecialRanges: Record<string, [ipaddr.IPv4, number][]> }).SpecialRanges,
  ).flat();

  it('at every edge of every special range, and one address either side', () => {
    expect(ranges.length).toBeGreaterThan(10);
    for (const [address, bits] of ranges) {
      const [a, b, c, d] = address.octets;
      const first = ((a << 24) >>> 0) + (b << 16) + (c << 8) + d;
      const last = first + 2 ** (32 - bits) - 1;
      for (const v of [first - 1, first, first + 1, last - 1, last, last + 1]) {
        if (v < 0 || v > 0xffffffff) continue;
        expect([v, v4Range(v)]).toEqual([v, ofNumber(v)]);
      }
    }
  });

  it('on 100,000 pseudo-random addresses', () => {
    let s = 7;
    for (let i = 0; i < 100_000; i++) {
      s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
      // Every other one inside 192.0.0.0/3, where most of the special ranges are.
      const v = i % 2 ? s : (s >>> 3) | 0xc0000000;
      if (v4Range(v >>> 0) !== ofNumber(v >>> 0)) expect([v >>> 0, v4Range(v >>> 0)]).toEqual([v >>> 0, ofNumber(v >>> 0)]);
    }
  });
});
