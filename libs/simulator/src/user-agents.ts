import UserAgent from 'user-agents';
import { Random } from './random';

interface Weighted {
  ua: string;
  weight: number;
  mobile: boolean;
}

let browsers: Weighted[] | undefined;

/** The most common real browser user agents (the `user-agents` package's traffic data), by weight. */
function commonBrowsers(): Weighted[] {
  browsers ??= UserAgent.top(400).map((d) => ({
    ua: d.userAgent,
    weight: d.weight,
    mobile: (d as { deviceCategory?: string }).deviceCategory !== 'desktop',
  }));
  return browsers;
}

export function browserUserAgent(rng: Random, device?: 'mobile' | 'desktop'): string {
  const list = device ? commonBrowsers().filter((b) => b.mobile === (device === 'mobile')) : commonBrowsers();
  return rng.weighted(
    list,
    list.map((b) => b.weight),
  ).ua;
}

/** Crawlers that announce themselves. */
export const CRAWLER_USER_AGENTS = [
  'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
  'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)',
  'Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)',
  'Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)',
  'Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)',
  'facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)',
  'Twitterbot/1.0',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)',
  'DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)',
  'Mozilla/5.0 (compatible; PetalBot;+https://webmaster.petalsearch.com/site/petalbot)',
];

/** Scripts and automated browsers. */
export const SCRIPT_USER_AGENTS = [
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.6367.60 Safari/537.36',
  'Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1',
  'python-requests/2.31.0',
  'curl/8.5.0',
  'Go-http-client/1.1',
  'axios/1.6.8',
  'Java/17.0.9',
  '',
];
