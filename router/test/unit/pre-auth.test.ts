/**
 * A limit before authentication: credentials the router cannot vouch for from memory cost their
 * client address one attempt (given back when they turn out good), so a flood of random tokens
 * from one address makes a bounded number of TokenReviews, while callers the router already
 * knows are never slowed by it.
 */
import { randomBytes } from 'node:crypto';
import { credentials, Metadata, status } from '@grpc/grpc-js';
import { createAgentClient, createAgentPromiseClient } from '@sandbank/proto';
import { addressKey, clientAddress } from '../../src/admission/client-address.js';
import { PreAuthLimiter } from '../../src/limits.js';
import { kubernetesAuthenticator } from '../../src/index.js';
import type { AccessReviewer } from '../../src/index.js';
import { startAgent } from '../helpers/agent.js';
import type { TestAgent } from '../helpers/agent.js';
import { startRouter } from '../helpers/router.js';
import type { TestRouter } from '../helpers/router.js';
import { staticLookup } from '../helpers/static-lookup.js';
import { openExec } from '../helpers/ws.js';

const TIMEOUT_MS = 60_000;
const IP = '127.0.0.63';

/** What `fn` threw (undefined when it did not). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
    return undefined;
  } catch (error) {
    return error;
  }
}

describe('PreAuthLimiter', () => {
  test('a burst, then refusals with Retry-After until the bucket refills', () => {
    let now = 0;
    const limiter = new PreAuthLimiter({ ratePerSecond: 2, burst: 3, now: () => now });
    for (let i = 0; i < 3; i++) limiter.take('a');
    expect(thrown(() => limiter.take('a'))).toMatchObject({ code: 'rate_limited', retryAfterSeconds: 1 });
    // Another address has its own bucket.
    expect(() => limiter.take('b')).not.toThrow();
    now = 499;
    expect(thrown(() => limiter.take('a'))).toMatchObject({ code: 'rate_limited' });
    now = 500;
    expect(() => limiter.take('a')).not.toThrow();
    expect(thrown(() => limiter.take('a'))).toMatchObject({ code: 'rate_limited' });
    now = 100_000;
    for (let i = 0; i < 3; i++) limiter.take('a');
    expect(thrown(() => limiter.take('a'))).toMatchObject({ code: 'rate_limited' });
  });

  test('an attempt that turned out good is given back, once', () => {
    const limiter = new PreAuthLimiter({ ratePerSecond: 0.001, burst: 2, now: () => 0 });
    const giveBack = limiter.take('a');
    limiter.take('a');
    giveBack();
    giveBack();
    expect(() => limiter.take('a')).not.toThrow();
    expect(thrown(() => limiter.take('a'))).toMatchObject({ code: 'rate_limited' });
  });

  test('the map of addresses is bounded', () => {
    const limiter = new PreAuthLimiter({ ratePerSecond: 1, burst: 1, maxAddresses: 100, now: () => 0 });
    for (let i = 0; i < 10_000; i++) limiter.take(`10.0.${i >> 8}.${i & 255}`);
    expect(limiter.size).toBeLessThanOrEqual(100);
  });

  test('addresses: IPv4-mapped IPv6 is IPv4; an IPv6 host is its /64 (one subscriber)', () => {
    expect(clientAddress('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(clientAddress(undefined)).toBe('unknown');
    expect(addressKey('10.1.2.3')).toBe('10.1.2.3');
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:2:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
  });
});

describe('a flood of random tokens', () => {
  const GOOD = 'good-token';
  const NEW_GOOD = 'another-good-token';
  const BURST = 10;
  let agent: TestAgent;
  let r: TestRouter;
  const calls = { authenticate: 0 };

  beforeAll(async () => {
    agent = await startAgent({ ip: IP, grpcPort: 0 });
    const reviewer: AccessReviewer = {
      authenticate: async (token) => {
        calls.authenticate++;
        await new Promise((resolve) => setTimeout(resolve, 5));
        return token === GOOD || token === NEW_GOOD
          ? { username: token, uid: undefined, groups: [], extra: {} }
          : undefined;
      },
      authorize: () => Promise.resolve({ allowed: true, reason: '' }),
    };
    r = await startRouter({
      lookup: staticLookup([{ namespace: 'default', name: 'sb', ip: IP }]),
      agentPorts: { grpcPort: agent.grpcPort, legacyPort: agent.restPort },
      auth: kubernetesAuthenticator({ reviewer, ttlMs: 600_000 }),
      // A refill slow enough that the flood below cannot be paid for by the time it takes.
      limits: { preAuthBurst: BURST, preAuthRatePerSecond: 0.01 },
    });
  }, TIMEOUT_MS);

  afterAll(async () => {
    await r?.close();
    await agent?.close();
  }, TIMEOUT_MS);

  const stat = (token: string): Promise<Response> =>
    fetch(`${r.url}/v1/namespaces/default/sandboxes/sb/stat`, {
      headers: { authorization: `Bearer ${token}` },
    });

  test(
    'costs a bounded number of TokenReviews; known callers from the same address pass',
    async () => {
      expect((await stat(GOOD)).status).toBe(200);
      const before = calls.authenticate;
      const answers = await Promise.all(
        Array.from({ length: 200 }, async () => {
          const res = await stat(randomBytes(16).toString('hex'));
          await res.arrayBuffer();
          return [res.status, res.headers.get('x-sandbank-error-code'), res.headers.get('retry-after')];
        }),
      );
      expect(calls.authenticate - before).toBeLessThanOrEqual(BURST);
      const limited = answers.filter(([s]) => s === 429);
      expect(limited.length).toBeGreaterThanOrEqual(200 - BURST);
      expect(limited[0]?.[1]).toBe('rate_limited');
      expect(Number(limited[0]?.[2])).toBeGreaterThan(1);
      expect(answers.filter(([s]) => s !== 429).every(([s]) => s === 401)).toBe(true);

      // The router already vouches for GOOD: no attempt is needed.
      expect((await stat(GOOD)).status).toBe(200);
      // A token it has not checked yet waits like the flood from its address.
      expect((await stat(NEW_GOOD)).status).toBe(429);
    },
    TIMEOUT_MS,
  );

  test(
    'the same limit on WebSocket upgrades and gRPC calls',
    async () => {
      await expect(
        openExec(`${r.wsUrl}/v1/namespaces/default/sandboxes/sb/exec`, { authorization: 'Bearer nope' }),
      ).rejects.toMatchObject({ statusCode: 429 });
      const client = createAgentClient(r.grpcAddress, credentials.createInsecure());
      try {
        const md = new Metadata();
        md.set('x-sandbox-id', 'sb');
        md.set('authorization', 'Bearer nope');
        await expect(
          createAgentPromiseClient(client).stat({ path: '.' }, { metadata: md }),
        ).rejects.toMatchObject({
          code: status.RESOURCE_EXHAUSTED,
          details: expect.stringMatching(/^rate_limited: /),
        });
      } finally {
        client.close();
      }
    },
    TIMEOUT_MS,
  );
});
