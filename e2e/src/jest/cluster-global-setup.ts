// Jest global setup of the cluster suite (e2e/test/cluster); the work is in cluster-hooks.ts.
// Jest requires this file through its own CommonJS require hook, without moduleNameMapper (so
// `./x.js` does not find `./x.ts`) and without import.meta. tsx's CommonJS hook handles both,
// so cluster-hooks.ts and everything it imports are loaded through it.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { register } from 'tsx/cjs/api';
import type * as Hooks from './cluster-hooks.js';

/** `project.rootDir` is the repository root. */
export default async function globalSetup(_global: unknown, project: { rootDir: string }): Promise<void> {
  const unregister = register();
  try {
    const hooksPath = join(project.rootDir, 'e2e', 'src', 'jest', 'cluster-hooks.ts');
    const hooks = createRequire(hooksPath)(hooksPath) as typeof Hooks;
    await hooks.setUpLocalCluster();
  } finally {
    unregister();
  }
}
