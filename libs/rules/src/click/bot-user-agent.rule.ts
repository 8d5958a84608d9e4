import { ClickRule, NoParams } from '../rule';

/** Declared crawlers and bots, by isbot's maintained pattern list. */
export const botUserAgentRule: ClickRule = {
  code: 'BOT_USER_AGENT',
  on: 'click',
  params: NoParams,
  defaults: {},
  evaluate: ({ obs }) => (obs.ua.bot ? { match: obs.ua.bot } : null),
};
