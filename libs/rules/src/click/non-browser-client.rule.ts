import { ClickRule, NoParams } from '../rule';

/** Empty user agents, HTTP libraries, CLI tools, headless and automated browsers. */
export const nonBrowserClientRule: ClickRule = {
  code: 'NON_BROWSER_CLIENT',
  on: 'click',
  params: NoParams,
  defaults: {},
  evaluate: ({ obs }) => (obs.ua.nonBrowser ? { client: obs.ua.nonBrowser } : null),
};
