/** What every jest configuration shares (jest.config.js, jest.faults.config.js). */
// Transpile only (fast); `npm test` type-checks the whole tree with tsc first.
const ts = ['ts-jest', { tsconfig: { module: 'commonjs', moduleResolution: 'node', isolatedModules: true } }];

module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ts },
  moduleNameMapper: { '^@app/(.*)$': '<rootDir>/libs/$1/src' },
  moduleFileExtensions: ['ts', 'js', 'json'],
  setupFiles: ['<rootDir>/test/setup-logging.ts'],
};
