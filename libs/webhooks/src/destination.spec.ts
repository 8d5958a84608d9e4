import { destinationProblem, isPublicAddress, literalAddressProblem, publicOnlyLookup } from './destination';

describe('webhook destinations', () => {
  it.each([
    ['8.8.8.8', true],
    ['2606:4700:4700::1111', true],
    ['127.0.0.1', false],
    ['10.0.0.1', false],
    ['172.16.5.4', false],
    ['192.168.1.1', false],
    ['169.254.169.254', false],
    ['100.64.0.1', false],
    ['0.0.0.0', false],
    ['::1', false],
    ['fd00::1', false],
    ['fe80::1', false],
    ['::ffff:127.0.0.1', false],
    ['::7f00:1', false],
    ['::127.0.0.1', false],
    ['64:ff9b::7f00:1', false],
    ['2002:7f00:1::', false],
    ['not an address', false],
  ])('%s is public: %s', (address, expected) => {
    expect(isPublicAddress(address)).toBe(expected);
  });

  it.each([
    ['https://8.8.8.8/hook', null],
    ['http://127.0.0.1:8080/hook', 'resolves to a private or reserved address (127.0.0.1)'],
    ['http://localhost/hook', 'resolves to a private or reserved address'],
    ['http://[::1]/hook', 'resolves to a private or reserved address (::1)'],
    ['http://[::127.0.0.1]/', 'resolves to a private or reserved address'],
    ['ftp://8.8.8.8/hook', 'must be http(s)'],
    ['https://user:secret@8.8.8.8/hook', 'must not carry credentials'],
    ['not a url', 'is not a URL'],
  ])('%s → %s', async (url, problem) => {
    const found = await destinationProblem(url, false);
    if (problem === null) expect(found).toBeNull();
    else expect(found).toContain(problem);
  });

  it('refuses a non-public address literal at delivery time (no DNS lookup happens for it)', () => {
    expect(literalAddressProblem('http://[::127.0.0.1]/hook', false)).toContain('not a public address');
    expect(literalAddressProblem('http://127.0.0.1:8080/hook', false)).toContain('not a public address');
    expect(literalAddressProblem('https://8.8.8.8/hook', false)).toBeNull();
    expect(literalAddressProblem('https://example.com/hook', false)).toBeNull();
    expect(literalAddressProblem('http://127.0.0.1:8080/hook', true)).toBeNull();
  });

  it('lets an operator allow private networks', async () => {
    expect(await destinationProblem('http://127.0.0.1:8080/hook', true)).toBeNull();
  });

  it('refuses a non-public address again when connecting', async () => {
    const lookup = publicOnlyLookup(false);
    const error = await new Promise<NodeJS.ErrnoException | null>((done) => lookup('localhost', { family: 4 }, (e) => done(e)));
    expect(error?.code).toBe('EADDRNOTPUBLIC');
    const allowed = await new Promise<NodeJS.ErrnoException | null>((done) =>
      publicOnlyLookup(true)('localhost', { family: 4 }, (e) => done(e)),
    );
    expect(allowed).toBeNull();
  });
});
