import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openApiDocument } from '../../src/index.js';

test('router/openapi.json is the document the router serves (regenerate: npm run openapi -w @sandbank/router)', () => {
  const file = JSON.parse(readFileSync(join(process.cwd(), 'router', 'openapi.json'), 'utf8')) as unknown;
  expect(file).toEqual(JSON.parse(JSON.stringify(openApiDocument)));
});
