/**
 * `npm run test:faults`: fault injection against the services running as separate processes from
 * dist/ (test/faults/). Not part of `npm test`: it needs a build and takes minutes.
 */
const common = require('./test/jest-common');

module.exports = {
  ...common,
  displayName: 'faults',
  testMatch: ['<rootDir>/test/faults/**/*.test.ts'],
  testTimeout: 240_000,
  globalSetup: '<rootDir>/test/faults/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/faults/support/global-teardown.ts',
};
