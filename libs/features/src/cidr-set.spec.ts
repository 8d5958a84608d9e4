import { CidrError, CidrSet, CidrSetChain } from './cidr-set';

describe('CidrSet', () => {
  const sut = new CidrSet([
    { cidr: '104.131.0.0/16', label: 'DigitalOcean' },
    '203.0.113.7',
    '2001:db8::/32',
    '10.0.0.0/8',
    '10.1.0.0/16', // inside the previous one: merged
  ]);

  it.each([
    ['104.131.25.9', '104.131.0.0/16 DigitalOcean'],
    ['104.132.0.1', null],
    ['203.0.113.7', '203.0.113.7'],
    ['203.0.113.8', null],
    ['2001:db8:1234::1', '2001:db8::/32'],
    ['2001:db9::1', null],
    ['::ffff:104.131.1.1', '104.131.0.0/16 DigitalOcean'],
    ['10.200.3.4', '10.0.0.0/8'],
    ['garbage', null],
  ])('%s → %s', (ip, expected) => {
    expect(sut.match(ip)).toBe(expected);
  });

  it('normalises a CIDR whose address has host bits set', () => {
    expect(new CidrSet(['192.0.2.77/24']).match('192.0.2.1')).toBe('192.0.2.77/24');
  });

  it('refuses an entry that is not an address or range', () => {
    expect(() => new CidrSet(['not-a-range'])).toThrow(CidrError);
    expect(() => new CidrSet(['1.2.3.4/40'])).toThrow(CidrError);
  });

  it('finds the right range in a large list of adjacent ranges', () => {
    const big = new CidrSet(Array.from({ length: 50_000 }, (_, i) => `${(i >> 8) + 1}.${i & 255}.0.0/16`));
    expect(big.match('5.17.9.9')).toBe('5.17.0.0/16');
    expect(big.match('5.16.255.255')).toBe('5.16.0.0/16');
    expect(big.size).toBe(50_000);
  });

  it('answers the range and its label separately', () => {
    expect(sut.lookup('104.131.25.9')).toEqual({ cidr: '104.131.0.0/16', label: 'DigitalOcean' });
    expect(sut.lookup('10.1.2.3')).toEqual({ cidr: '10.0.0.0/8', label: null });
    expect(sut.lookup('192.0.2.1')).toBeNull();
  });

  it('an enclosing range wins over one that starts at the same address', () => {
    const set = new CidrSet([
      { cidr: '198.51.100.0/25', label: 'small' },
      { cidr: '198.51.100.0/24', label: 'large' },
    ]);
    expect(set.lookup('198.51.100.200')).toEqual({ cidr: '198.51.100.0/24', label: 'large' });
    expect(set.lookup('198.51.100.1')).toEqual({ cidr: '198.51.100.0/24', label: 'large' });
  });
});

describe('CidrSetChain', () => {
  it('answers from the first set that holds the address', () => {
    const sut = new CidrSetChain([
      new CidrSet([{ cidr: '198.51.100.0/24', label: 'operator' }]),
      new CidrSet([{ cidr: '198.51.0.0/16', label: 'starter' }]),
    ]);
    expect(sut.lookup('198.51.100.7')?.label).toBe('operator');
    expect(sut.lookup('198.51.7.7')?.label).toBe('starter');
    expect(sut.match('198.51.7.7')).toBe('198.51.0.0/16 starter');
    expect(sut.lookup('203.0.113.1')).toBeNull();
    expect(sut.size).toBe(2);
  });

  it('answers the same address asked twice in a row, and the next one afresh (its one-entry memory)', () => {
    const sut = new CidrSetChain([new CidrSet([{ cidr: '198.51.100.0/24', label: 'operator' }])]);
    for (const [ip, label] of [
      ['198.51.100.7', 'operator'],
      ['198.51.100.7', 'operator'],
      ['203.0.113.1', null],
      ['203.0.113.1', null],
      ['198.51.100.8', 'operator'],
    ] as const) {
      expect(sut.lookup(ip)?.label ?? null).toBe(label);
    }
  });
});
