/** Where the generator reads the router's table and writes the client's classes. */
import { fileURLToPath } from 'node:url';

export const ROUTER_OPENAPI = fileURLToPath(new URL('../../../router/openapi.json', import.meta.url));
export const GENERATED_ERRORS = fileURLToPath(new URL('../src/generated/router-errors.ts', import.meta.url));
