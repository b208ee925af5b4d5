// Projects: `unit` (no I/O beyond loopback/tmp files) and `integration` (a real etcd +
// kube-apiserver started once per run by the global setup), both run by `make test`.
const transform = {
  '^.+\\.ts$': [
    '@swc/jest',
    { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'es6' } },
  ],
};
const shared = {
  extensionsToTreatAsEsm: ['.ts'],
  transform,
  testEnvironment: 'node',
  // Sources import siblings with `.js` suffixes (Node16 ESM); map them back to the `.ts` files.
  moduleNameMapper: {
    '^@sandbank/(api|proto|e2e|bench|controller|router|testing|kube)$': '<rootDir>/$1/src/index.ts',
    '^@sandbank/agent$': '<rootDir>/runtime-image/src/index.ts',
    '^@sandbank/client$': '<rootDir>/clients/ts/src/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  modulePathIgnorePatterns: ['<rootDir>/.*/dist/'],
};

export default {
  projects: [
    {
      ...shared,
      displayName: 'unit',
      testMatch: [
        '<rootDir>/test/unit/**/*.test.ts',
        '<rootDir>/*/test/unit/**/*.test.ts',
        '<rootDir>/clients/ts/test/unit/**/*.test.ts',
      ],
    },
    {
      ...shared,
      displayName: 'integration',
      testMatch: [
        '<rootDir>/*/test/integration/**/*.test.ts',
        '<rootDir>/clients/ts/test/integration/**/*.test.ts',
      ],
      globalSetup: '<rootDir>/e2e/src/jest/global-setup.ts',
      globalTeardown: '<rootDir>/e2e/src/jest/global-teardown.ts',
      setupFilesAfterEnv: ['<rootDir>/e2e/src/jest/integration-timeout.ts'],
    },
  ],
};
