import { KubeError, isKubeError, kindOf, toKubeError } from '../../src/errors.js';

describe('kindOf', () => {
  it.each([
    [404, undefined, 'NotFound'],
    [409, undefined, 'Conflict'],
    [409, 'Conflict', 'Conflict'],
    [409, 'AlreadyExists', 'AlreadyExists'],
    [422, 'Invalid', 'Invalid'],
    [403, 'Forbidden', 'Forbidden'],
    [401, 'Unauthorized', 'Forbidden'],
    [410, 'Expired', 'Gone'],
    [429, 'TooManyRequests', 'Unavailable'],
    [500, undefined, 'Unavailable'],
    [503, undefined, 'Unavailable'],
    [504, 'Timeout', 'Unavailable'],
    [400, 'BadRequest', 'Other'],
  ] as const)('HTTP %s %s → %s', (status, reason, kind) => {
    expect(kindOf(status, reason)).toBe(kind);
  });
});

describe('toKubeError', () => {
  it('maps client-node ApiException-shaped errors, with the Status as object or JSON text', () => {
    const asObject = toKubeError({
      code: 409,
      body: { reason: 'AlreadyExists', message: 'pods "p" already exists' },
    });
    expect(asObject).toMatchObject({ kind: 'AlreadyExists', status: 409, reason: 'AlreadyExists' });
    expect(asObject.message).toContain('pods "p" already exists');

    const asText = toKubeError({
      code: 404,
      body: JSON.stringify({ kind: 'Status', reason: 'NotFound', message: 'gone' }),
    });
    expect(asText).toMatchObject({ kind: 'NotFound', status: 404 });

    expect(toKubeError({ code: 409, body: '{"reason":"Conflict"}' }).kind).toBe('Conflict');
    expect(toKubeError({ statusCode: 410, body: 'too old' }).kind).toBe('Gone');
    expect(toKubeError({ code: 422, body: 'not json' }).kind).toBe('Invalid');
  });

  it('maps socket failures and timeouts to Unavailable', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' });
    expect(toKubeError(refused)).toMatchObject({ kind: 'Unavailable', status: 0 });
    expect(toKubeError(new DOMException('slow', 'TimeoutError')).kind).toBe('Unavailable');
    expect(toKubeError(new DOMException('stop', 'AbortError')).kind).toBe('Unavailable');
    const fetchFailure = new TypeError('fetch failed', {
      cause: Object.assign(new Error('reset'), { code: 'ECONNRESET' }),
    });
    expect(toKubeError(fetchFailure).kind).toBe('Unavailable');
  });

  it('keeps the original as cause and is idempotent', () => {
    const original = new Error('weird');
    const e = toKubeError(original, 'GET /x');
    expect(e).toMatchObject({ kind: 'Other', message: 'GET /x: weird' });
    expect(e.cause).toBe(original);
    expect(toKubeError(e)).toBe(e);
    expect(toKubeError('text').kind).toBe('Other');
  });
});

describe('isKubeError', () => {
  it('checks the kind when given', () => {
    const e = new KubeError('Conflict', 409, 'x');
    expect(isKubeError(e)).toBe(true);
    expect(isKubeError(e, 'Conflict')).toBe(true);
    expect(isKubeError(e, 'NotFound')).toBe(false);
    expect(isKubeError(new Error('x'))).toBe(false);
  });
});
