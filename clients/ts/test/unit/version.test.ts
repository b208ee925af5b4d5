import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '@sandbank/e2e';
import { CLIENT_VERSION } from '../../src/version.js';

test("CLIENT_VERSION is package.json's version", () => {
  const manifest = JSON.parse(readFileSync(join(repoRoot, 'clients', 'ts', 'package.json'), 'utf8')) as {
    version: string;
  };
  expect(CLIENT_VERSION).toBe(manifest.version);
});
