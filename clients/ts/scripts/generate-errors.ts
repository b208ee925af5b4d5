/**
 * Writes src/generated/router-errors.ts from router/openapi.json (run after the router's code
 * table changes: `npx tsx clients/ts/scripts/generate-errors.ts`; a unit test fails until then).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { renderRouterErrors } from './router-errors-source.js';
import { GENERATED_ERRORS, ROUTER_OPENAPI } from './paths.js';

writeFileSync(GENERATED_ERRORS, await renderRouterErrors(readFileSync(ROUTER_OPENAPI, 'utf8')));
console.log(`wrote ${GENERATED_ERRORS}`);
