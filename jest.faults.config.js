/**
 * `npm run test:faults`: fault injection against the services running as separate processes from
 * dist/ (test/faults/). Not part of `npm test`: it needs a build and takes minutes.
 */
const ts = ['ts-jest', { tsconfig: { module: 'commonjs', moduleResolution: 'node', isolatedModules: true } }];

module.exports = {
  displayName: 'faults',
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ts },
  moduleNameMapper: {
    '^@app/(.*)$': '<rootDir>/libs/$1/src',
    '^content-disposition$': '<rootDir>/test/shims/content-disposition.cjs',
  },
  moduleFileExtensions: ['ts', 'js', 'json'],
  setupFiles: ['<rootDir>/test/setup-logging.ts'],
  testMatch: ['<rootDir>/test/faults/**/*.test.ts'],
  testTimeout: 240_000,
  globalSetup: '<rootDir>/test/faults/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/faults/support/global-teardown.ts',
};
