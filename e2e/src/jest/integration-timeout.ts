// Integration tests wait on a real API server (and, in the cluster suites, on real pods); jest
// reads `testTimeout` only from the root config, so the integration project sets it here.
import { jest } from '@jest/globals';

jest.setTimeout(60_000);
