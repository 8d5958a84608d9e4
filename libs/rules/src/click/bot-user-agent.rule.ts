import { ClickRule, NoParams } from '../rule';
import { nameBot } from './bot-name';

/** Declared crawlers and bots, by isbot's maintained pattern list; the evidence names the bot. */
export const botUserAgentRule: ClickRule = {
  code: 'BOT_USER_AGENT',
  on: 'click',
  params: NoParams,
  defaults: {},
  evaluate: ({ obs }) => (obs.ua.bot ? { ...nameBot(obs.ua.text), match: obs.ua.bot } : null),
};
