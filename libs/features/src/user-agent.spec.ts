import { classifyUserAgent } from './user-agent';

const CHROME_WIN = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';
const SAFARI_IPHONE =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';

describe('classifyUserAgent', () => {
  it.each([
    [CHROME_WIN, null, null, 'desktop'],
    [SAFARI_IPHONE, null, null, 'mobile'],
    ['Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)', 'Google', null, 'unknown'],
    ['', null, 'empty', 'unknown'],
    ['   ', null, 'empty', 'unknown'],
    ['curl/8.4.0', null, 'curl', 'unknown'],
    ['python-requests/2.31.0', null, 'a Python script', 'unknown'],
    [
      'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36',
      null,
      'a headless browser',
      'unknown',
    ],
    ['MyShop/3.2 CFNetwork/1408.0.4 Darwin/22.5.0', null, null, 'app'],
  ])('%j', (ua, bot, nonBrowser, family) => {
    const sut = classifyUserAgent(ua);
    if (bot) expect(sut.bot).toMatch(new RegExp(bot, 'i'));
    else expect(sut.bot).toBeNull();
    expect(sut.nonBrowser).toBe(nonBrowser);
    expect(sut.family).toBe(family);
  });
});
