/**
 * A hostile sandbox runs its own server on another port of its pod and asks callers to reach it
 * through the router's port proxy, hoping to harvest the pod's agent credential from the router's
 * requests. The router sends the credential only to the agent's own port, never to any other
 * port of the pod, and never passes the client's own Authorization header on.
 */
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { agentToken, credentialAnnotation } from '@sandbank/kube';
import { noAuthenticator } from '../../src/index.js';
import { TEST_AGENT_KEY } from '../helpers/agent-key.js';
import { startRouter } from '../helpers/router.js';
import type { TestRouter } from '../helpers/router.js';
import { staticLookup } from '../helpers/static-lookup.js';

const IP = '127.0.0.43';
const annotation = credentialAnnotation();

/** A server on the pod's address that records the headers of every request it answers. */
async function recorder(): Promise<{ server: Server; port: number; seen: IncomingHttpHeaders[] }> {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers);
    req.resume();
    res.end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, IP, resolve));
  return { server, port: (server.address() as AddressInfo).port, seen };
}

let agentPort: Awaited<ReturnType<typeof recorder>>;
let otherPort: Awaited<ReturnType<typeof recorder>>;
let router: TestRouter;

beforeAll(async () => {
  agentPort = await recorder();
  otherPort = await recorder();
  router = await startRouter({
    lookup: staticLookup([{ namespace: 'default', name: 'sb', ip: IP, protocol: 'http', annotation }]),
    auth: noAuthenticator(),
    agentPorts: { grpcPort: 1, legacyPort: agentPort.port },
  });
});

afterAll(async () => {
  await router?.close();
  for (const r of [agentPort, otherPort]) await new Promise((resolve) => r?.server.close(resolve));
});

async function through(port: number): Promise<number> {
  const res = await fetch(`${router.url}/anything`, {
    headers: {
      'x-sandbox-id': 'sb',
      'x-sandbox-port': String(port),
      authorization: 'Bearer the-clients-own-token',
    },
  });
  await res.arrayBuffer();
  return res.status;
}

test("another port of the pod gets no credential, neither the pod's nor the client's", async () => {
  expect(await through(otherPort.port)).toBe(200);
  expect(otherPort.seen).toHaveLength(1);
  expect(otherPort.seen[0]?.authorization).toBeUndefined();
});

test("the agent's port gets the pod's own credential in place of the client's", async () => {
  expect(await through(agentPort.port)).toBe(200);
  expect(agentPort.seen).toHaveLength(1);
  expect(agentPort.seen[0]?.authorization).toBe(
    `Bearer ${agentToken(TEST_AGENT_KEY, 'default', annotation)}`,
  );
});
