import { status as GrpcStatus } from '@grpc/grpc-js';
import { ERROR_CODE_NAMES, ErrorCodes, RouterError } from '../../src/index.js';
import { fromAgentError } from '../../src/agent/status.js';

describe('the error code table', () => {
  test.each(ERROR_CODE_NAMES.map((c) => [c]))('%s maps to HTTP, WebSocket and gRPC', (code) => {
    const spec = ErrorCodes[code];
    expect(spec.http).toBeGreaterThanOrEqual(400);
    expect(spec.http).toBeLessThan(600);
    // WebSocket: 4000 + HTTP status, or one of the protocol's own codes.
    expect([spec.http + 4000, 1001, 1009, 1011]).toContain(spec.ws);
    expect(Object.values(GrpcStatus)).toContain(spec.grpc);
  });

  test('from(): RouterErrors pass through, aborts are canceled, the rest internal without leaking the cause', () => {
    const e = new RouterError('not_found', 'gone');
    expect(RouterError.from(e)).toBe(e);
    expect(RouterError.from(Object.assign(new Error('x'), { name: 'AbortError' })).code).toBe('canceled');
    const internal = RouterError.from(new Error('secret detail'));
    expect(internal.code).toBe('internal');
    expect(JSON.stringify(internal.toJSON())).not.toContain('secret detail');
  });

  test('the WebSocket close reason starts with the code and fits 123 bytes', () => {
    const e = new RouterError('idle_timeout', 'é'.repeat(200));
    expect(e.wsCloseReason.startsWith('idle_timeout: ')).toBe(true);
    expect(Buffer.byteLength(e.wsCloseReason)).toBeLessThanOrEqual(123);
    expect(e.wsCloseReason).not.toContain('\uFFFD');
  });

  test.each([
    [GrpcStatus.NOT_FOUND, 'not_found'],
    [GrpcStatus.PERMISSION_DENIED, 'permission_denied'],
    [GrpcStatus.FAILED_PRECONDITION, 'failed_precondition'],
    [GrpcStatus.DEADLINE_EXCEEDED, 'deadline_exceeded'],
    [GrpcStatus.UNAVAILABLE, 'upstream_unavailable'],
    [GrpcStatus.INTERNAL, 'upstream_failed'],
    [GrpcStatus.UNAUTHENTICATED, 'upstream_failed'],
  ])('agent status %i becomes %s', (code, want) => {
    expect(fromAgentError(Object.assign(new Error('x'), { code, details: 'd' })).code).toBe(want);
  });
});
