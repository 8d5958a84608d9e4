import BotParser from 'node-device-detector/parser/bot-abstract-parser';
import { isbotMatches } from 'isbot';
import { memoize } from '@app/features';

const parser = new BotParser();

/** Who a declared bot says it is. */
export interface BotName {
  /** `Googlebot`, `BingBot`, … or, for a bot no list knows, the product token of its user agent. */
  bot: string;
  /** Who runs it (`Google Inc.`), when known. */
  operator: string | null;
  /** `Search bot`, `Crawler`, `AI Data Scraper`, … when known. */
  kind: string | null;
}

/**
 * Who a declared bot is, for BOT_USER_AGENT's evidence: its name, operator and kind from Matomo's
 * maintained bot list (node-device-detector: Googlebot → Google Inc., search bot), or — for a bot that
 * list does not know — the product token in which isbot found it (`ExampleCrawler/1.0` →
 * `ExampleCrawler`). Only called for agents isbot already called a bot; cached per agent.
 */
export const nameBot: (ua: string) => BotName = memoize(
  (ua: string) => {
    const found = parser.parse(ua);
    if (found?.name && found.name !== 'Generic Bot') {
      return { bot: found.name, operator: found.producer?.name || null, kind: found.category || null };
    }
    return { bot: productToken(ua), operator: null, kind: null };
  },
  10_000,
  2_000_000,
);

const NOT_A_NAME = /^(mozilla|compatible|https?:|www\.)/i;

/** The word of `ua` holding isbot's shortest fragment (not `Mozilla/5.0` nor a URL), without its version. */
function productToken(ua: string): string {
  const tokens = ua.split(/[\s;()+,]+/).filter((t) => t && !NOT_A_NAME.test(t));
  const fragments = isbotMatches(ua).sort((a, b) => a.length - b.length);
  for (const fragment of fragments) {
    const needle = fragment.toLowerCase();
    const token = tokens.find((t) => t.toLowerCase().includes(needle));
    if (token) return token.replace(/\/.*$/, '').slice(0, 100) || token.slice(0, 100);
  }
  return (tokens[0] ?? 'unnamed bot').replace(/\/.*$/, '').slice(0, 100);
}
