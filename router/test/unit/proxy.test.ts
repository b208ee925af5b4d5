import { relativeLocation } from '../../src/http/proxy.js';

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
