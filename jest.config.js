/** Unit tests sit next to the code (`*.spec.ts`); integration and end-to-end tests in `test/`. */
const { availableParallelism } = require('node:os');
const common = require('./test/jest-common');

module.exports = {
  testTimeout: 60_000,
  // Jest's default (cores - 1) is one worker on a 2-core machine: every file in turn, while most of
  // a file's time is spent waiting on NATS, PostgreSQL and the engine it booted. Two workers there
  // (CI's size) about halve the run; `--maxWorkers=1` on the command line still runs in band.
  maxWorkers: Math.max(2, availableParallelism() - 1),
  testSequencer: '<rootDir>/test/sequencer.js',
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/apps/**/*.spec.ts', '<rootDir>/libs/**/*.spec.ts', '<rootDir>/dashboards/**/*.spec.ts'],
    },
    { ...common, displayName: 'integration', testMatch: ['<rootDir>/test/integration/**/*.test.ts'] },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.test.ts'] },
  ],
};
