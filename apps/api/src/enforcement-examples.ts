/** An enforcement block's reason as the admin's and the publisher's block lists show it (OpenAPI examples). */
export const BLOCK_REASON_EXAMPLE = {
  code: 'ENFORCEMENT_BLOCK',
  message:
    'Sub-id "rw1" of publisher "pub-31" is blocked on offer shoes until 2026-11-22T14:00:00.000Z: its invalid click rate was 62.0 % over 240 clicks in the last 6 hours (limit 30.0 %).',
  evidence: {
    block: 'blk-3f9a01c2d4e5',
    policy: 'network/invalid-subids',
    scope: 'offer shoes',
    publisherId: 'pub-31',
    subId: 'rw1',
    metric: 'invalid click rate',
    rate: 0.62,
    sample: 240,
    maxRate: 0.3,
    windowHours: 6,
    until: '2026-11-22T14:00:00.000Z',
  },
};
