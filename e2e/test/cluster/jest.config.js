// The local-cluster suite: one real one-node cluster (kubelet + containerd + gVisor) with
// Sandbank installed as `make up` does, for the whole run (global setup), stopped and checked
// clean by the global teardown. Needs root; one local cluster per machine. `make test` runs it
// after the unit and integration projects; alone:
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
  globalSetup: '<rootDir>/e2e/src/jest/cluster-global-setup.ts',
  globalTeardown: '<rootDir>/e2e/src/jest/cluster-global-teardown.ts',
  // The files share one cluster and some break parts of it on purpose (a killed controller or
  // router): one at a time, in file-name order (the disruptive ones last).
  maxWorkers: 1,
  testSequencer: '<rootDir>/e2e/test/cluster/sequencer.js',
  testTimeout: 300_000,
};
