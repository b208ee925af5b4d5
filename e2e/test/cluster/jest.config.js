// The local-cluster suite (root needed, one cluster per machine): not in the default projects.
//   node --experimental-vm-modules node_modules/jest/bin/jest.js -c e2e/test/cluster/jest.config.js
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import root from '../../../jest.config.js';

const integration = root.projects.find((p) => p.displayName === 'integration');
// the integration project's transform and module mapping, without its control-plane global setup
const shared = { ...integration };
delete shared.globalSetup;
delete shared.globalTeardown;
delete shared.testMatch;
delete shared.displayName;

export default {
  ...shared,
  rootDir: resolve(dirname(fileURLToPath(import.meta.url)), '../../..'),
  displayName: 'cluster',
  testMatch: ['<rootDir>/e2e/test/cluster/**/*.test.ts'],
  testTimeout: 300_000,
};
