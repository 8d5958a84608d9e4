import { classifyIp } from './ip';

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
