import { cachedCountryOf, countryOfIp, lookupCountry } from './geo';

describe('cachedCountryOf', () => {
  const counting = () => {
    const asked: string[] = [];
    const lookup = (ip: string) => {
      asked.push(ip);
      return ip.startsWith('203.') ? 'AU' : null;
    };
    return { asked, lookup };
  };

  it('answers as the lookup, asking it once per address it remembers (null answers too)', () => {
    const { asked, lookup } = counting();
    const sut = cachedCountryOf(lookup, 10);
    expect([sut('203.0.113.7'), sut('10.0.0.1'), sut('203.0.113.7'), sut('10.0.0.1')]).toEqual(['AU', null, 'AU', null]);
    expect(asked).toEqual(['203.0.113.7', '10.0.0.1']);
  });

  it('remembers at most `capacity` addresses, forgetting the least recently asked', () => {
    const { asked, lookup } = counting();
    const sut = cachedCountryOf(lookup, 2);
    sut('203.0.0.1');
    sut('203.0.0.2');
    sut('203.0.0.1'); // 203.0.0.2 is now the least recent
    sut('203.0.0.3'); // evicts it
    sut('203.0.0.1');
    sut('203.0.0.2');
    expect(asked).toEqual(['203.0.0.1', '203.0.0.2', '203.0.0.3', '203.0.0.2']);
  });

  it('keeps working for addresses that are names of Object.prototype (any string is a click ip)', () => {
    const { lookup } = counting();
    const sut = cachedCountryOf(lookup, 3);
    for (const ip of ['__proto__', 'toString', 'constructor', 'hasOwnProperty', '203.0.113.7', '203.0.113.8', '203.0.113.7']) sut(ip);
    expect(sut('203.0.113.7')).toBe('AU');
    expect(sut('toString')).toBeNull();
  });

  it('gives the bundled database’s answers', () => {
    for (const ip of ['8.8.8.8', '81.2.69.142', '10.0.0.1', 'not an ip', '', '2001:4860:4860::8888']) {
      expect(countryOfIp(ip)).toBe(lookupCountry(ip));
      expect(countryOfIp(ip)).toBe(lookupCountry(ip));
    }
  });
});
