/** Writes router/openapi.json from the document the router serves. */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openApiDocument } from '../src/http/openapi.js';

const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'openapi.json');
writeFileSync(out, `${JSON.stringify(openApiDocument, null, 2)}\n`);
process.stdout.write(`wrote ${out}\n`);
