/**
 * Ways real networks differ from one another (issue 14). The fraud is the same in every profile;
 * the legitimate traffic changes, so a model trained on one profile can be measured on honest
 * traffic it has never seen.
 */
export const TRAFFIC_PROFILES = {
  network: 'a mixed network: web shops, leads and app installs; 60 % of clicks with a referrer',
  'app-s2s': 'app-install campaigns whose clicks come server-to-server: no referrer, a device id, app and webview user agents',
  shop: 'web shops whose buyers take their time: one sale in five more than a day after the click, up to ten days (give --hours 240 to see them land)',
  'new-publishers': 'half the honest traffic from publishers that join during the period (no history), half of it without a referrer',
  'shared-address': 'households and offices: two to eighty people behind one address, each with their own browser',
  newsletter:
    'the network plus newsletter drops: thousands of honest clicks on one offer within minutes, from mail clients without a referrer',
} as const;

export type TrafficProfile = keyof typeof TRAFFIC_PROFILES;

export function isTrafficProfile(name: string): name is TrafficProfile {
  return Object.hasOwn(TRAFFIC_PROFILES, name);
}

/** App HTTP stacks and in-app webviews: what an app's S2S click carries as the user agent. */
export const APP_USER_AGENTS = [
  'Dalvik/2.1.0 (Linux; U; Android 13; SM-S911B Build/TP1A.220624.014)',
  'Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/UD1A.231105.004)',
  'Dalvik/2.1.0 (Linux; U; Android 12; Redmi Note 11 Build/SKQ1.211103.001)',
  'Mozilla/5.0 (Linux; Android 13; SM-A536B Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.230 Mobile Safari/537.36',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148',
  'PuzzleQuest/3.2.1 CFNetwork/1490.0.4 Darwin/23.2.0',
  'Budgetly/5.0.2 CFNetwork/1485 Darwin/23.1.0',
];
