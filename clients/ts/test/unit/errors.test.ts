/**
 * The client's error classes against the router's own table (`x-sandbank-codes` in
 * router/openapi.json): the checked-in generated file is what the generator renders now, every code
 * has its class with the table's status and retryability, and answers without a router code are
 * never guessed into one.
 */
import { readFileSync } from 'node:fs';
import { renderRouterErrors } from '../../scripts/router-errors-source.js';
import { GENERATED_ERRORS, ROUTER_OPENAPI } from '../../scripts/paths.js';
import { SandbankError } from '../../src/client-errors.js';
import { ProtocolError, RouterError } from '../../src/errors.js';
import {
  DeadlineExceeded,
  errorForCode,
  IdleTimeout,
  NotFound,
  ROUTER_CODES,
  RouterUnavailable,
  SandboxOomKilled,
  Unauthenticated,
} from '../../src/generated/router-errors.js';
import { NEVER_REACHED_CODES } from '../../src/http/retry.js';
import { errorFromClose, errorFromResponse } from '../../src/http/router-answers.js';

interface Row {
  http: number;
  ws: number;
  retryable: boolean;
}

const openapi = readFileSync(ROUTER_OPENAPI, 'utf8');
const table = (
  JSON.parse(openapi) as {
    components: {
      schemas: { Error: { properties: { error: { properties: { code: Record<string, unknown> } } } } };
    };
  }
).components.schemas.Error.properties.error.properties.code['x-sandbank-codes'] as Record<string, Row>;
const codes = Object.keys(table).sort();

test('the checked-in router-errors.ts is what the generator renders from router/openapi.json', async () => {
  const fresh = await renderRouterErrors(openapi);
  expect(readFileSync(GENERATED_ERRORS, 'utf8')).toBe(fresh); // else: npx tsx clients/ts/scripts/generate-errors.ts
});

test('the client knows exactly the router codes', () => {
  expect(Object.keys(ROUTER_CODES).sort()).toEqual(codes);
});

test.each(codes)('%s has its own class with the table row', (code) => {
  const row = table[code] as Row;
  const error = errorForCode(code, 'm', { httpStatus: row.http });
  expect(error).toBeInstanceOf(RouterError);
  expect(error).toBeInstanceOf(SandbankError);
  expect(error.constructor).not.toBe(RouterError);
  expect(error.code).toBe(code);
  expect(error.httpStatus).toBe(row.http);
  expect(error.retryable).toBe(row.retryable);
  const errorClass = error.constructor as unknown as { code: string; httpStatus: number; retryable: boolean };
  expect([errorClass.code, errorClass.httpStatus, errorClass.retryable]).toEqual([
    code,
    row.http,
    row.retryable,
  ]);
});

test.each(codes)('a WebSocket close for %s maps to its class and HTTP status', (code) => {
  const row = table[code] as Row;
  const error = errorFromClose(row.ws, `${code}: m`);
  expect(error).toBeInstanceOf(ROUTER_CODES[code as keyof typeof ROUTER_CODES].errorClass);
  expect((error as RouterError).httpStatus).toBe(row.http);
});

test('names and kinds as the Python client has them', () => {
  expect(new SandboxOomKilled('m').name).toBe('SandboxOomKilled');
  expect(errorForCode('shutting_down', 'm')).toBeInstanceOf(RouterUnavailable);
  // Catching DeadlineExceeded catches the WebSocket session's own timeouts too.
  expect(errorForCode('idle_timeout', 'm')).toBeInstanceOf(DeadlineExceeded);
  expect(errorForCode('idle_timeout', 'm')).toBeInstanceOf(IdleTimeout);
  expect(errorForCode('idle_timeout', 'm').retryable).toBe(false);
});

test('the client resends on its own only codes the router calls retryable', () => {
  for (const code of NEVER_REACHED_CODES) expect(table[code]?.retryable).toBe(true);
});

describe('errorFromResponse', () => {
  test('the envelope, the legacy detail with the header, or the header alone', () => {
    const envelope = errorFromResponse(
      404,
      {},
      Buffer.from('{"error":{"code":"not_found","message":"no x"}}'),
    );
    expect(envelope).toBeInstanceOf(NotFound);
    expect(envelope.message).toContain('no x');
    const legacy = errorFromResponse(
      401,
      { 'x-sandbank-error-code': 'unauthenticated' },
      Buffer.from('{"detail":"bad token"}'),
    );
    expect(legacy).toBeInstanceOf(Unauthenticated);
    expect(legacy.message).toContain('bad token');
    expect(
      errorFromResponse(504, { 'x-sandbank-error-code': 'deadline_exceeded' }, Buffer.alloc(0)),
    ).toBeInstanceOf(DeadlineExceeded);
  });

  test('a code this client does not know is a RouterError carrying it', () => {
    const error = errorFromResponse(418, {}, Buffer.from('{"error":{"code":"teapot_state","message":"m"}}'));
    expect(error.constructor).toBe(RouterError);
    expect(error.code).toBe('teapot_state');
    expect((error as RouterError).httpStatus).toBe(418);
    expect(error.retryable).toBe(false);
  });

  test('an answer without a router code is a ProtocolError, whatever its status', () => {
    const proxy = errorFromResponse(
      502,
      { 'content-type': 'text/html' },
      Buffer.from('<html>Bad Gateway</html>'),
    );
    expect(proxy).toBeInstanceOf(ProtocolError);
    expect(proxy.message).toContain('Bad Gateway');
    expect(errorFromResponse(503, { 'x-sandbank-error-code': 'NOT A CODE' }, Buffer.alloc(0))).toBeInstanceOf(
      ProtocolError,
    );
  });

  test('a close that is not the router protocol is a ProtocolError', () => {
    expect(errorFromClose(4000, 'whatever')).toBeInstanceOf(ProtocolError);
  });
});
