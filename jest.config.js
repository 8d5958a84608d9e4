/** Unit tests sit next to the code (`*.spec.ts`); integration and end-to-end tests in `test/`. */
// Transpile only (fast); `npm test` type-checks the whole tree with tsc first.
const ts = ['ts-jest', { tsconfig: { module: 'commonjs', moduleResolution: 'node', isolatedModules: true } }];

const common = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ts },
  moduleNameMapper: {
    '^@app/(.*)$': '<rootDir>/libs/$1/src',
    // ESM-only; see the file.
    '^content-disposition$': '<rootDir>/test/shims/content-disposition.cjs',
  },
  moduleFileExtensions: ['ts', 'js', 'json'],
  setupFiles: ['<rootDir>/test/setup-logging.ts'],
};

module.exports = {
  testTimeout: 60_000,
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
