import { podResponseHeaders, relativeLocation, unforwardable } from '../../src/http/proxy.js';

describe('relativeLocation', () => {
  test("a redirect to the pod's own address keeps only its path", () => {
    expect(relativeLocation('http://10.244.0.7:8888/list/?a=1#x', '10.244.0.7', 8888)).toBe('/list/?a=1#x');
    expect(relativeLocation('http://[fd00::7]:8888/x', 'fd00::7', 8888)).toBe('/x');
    expect(relativeLocation('http://10.244.0.7/x', '10.244.0.7', 80)).toBe('/x');
  });

  test('other redirects pass unchanged', () => {
    expect(relativeLocation('/already/relative', '10.244.0.7', 8888)).toBe('/already/relative');
    expect(relativeLocation('https://example.com/login', '10.244.0.7', 8888)).toBe(
      'https://example.com/login',
    );
    expect(relativeLocation('http://10.244.0.7:9999/x', '10.244.0.7', 8888)).toBe('http://10.244.0.7:9999/x');
    expect(relativeLocation('http://10.244.0.8:8888/x', '10.244.0.7', 8888)).toBe('http://10.244.0.8:8888/x');
  });
});

describe("a pod's response headers", () => {
  test('cookies, credential prompts, origin-wide policies and X-Sandbank-* are dropped; sandboxing is added', () => {
    expect(
      podResponseHeaders({
        'set-cookie': ['a=1', 'b=2'],
        'www-authenticate': 'Basic realm="x"',
        'strict-transport-security': 'max-age=1',
        'alt-svc': 'h2=":443"',
        'content-security-policy': "default-src 'unsafe-inline'",
        'x-sandbank-error-code': 'not_found',
        connection: 'x-hop',
        'x-hop': '1',
        'content-type': 'text/html',
        etag: '"1"',
      }),
    ).toEqual({
      'content-type': 'text/html',
      etag: '"1"',
      'content-security-policy': 'sandbox',
      'x-content-type-options': 'nosniff',
    });
  });

  test.each([undefined, 0, 99, 100, 101, 199, 600, 999, 200.5])('status %s is not forwarded', (status) => {
    expect(unforwardable(status, {})).toEqual({ reason: 'bad_status', detail: `status ${String(status)}` });
  });

  test('statuses 200–599 with valid headers are forwarded; an invalid header is not', () => {
    for (const status of [200, 204, 302, 404, 599])
      expect(unforwardable(status, { a: 'b', n: 1 })).toBeUndefined();
    expect(unforwardable(200, { 'x-a': 'b\u0000c' })?.reason).toBe('bad_header');
    expect(unforwardable(200, { 'bad name': 'x' })?.reason).toBe('bad_header');
    expect(unforwardable(200, { 'x-a': ['ok', 'b\nc'] })?.reason).toBe('bad_header');
  });
});
