/**
 * Sandbox.create's way out against a fake API server: an abort while the create call is under way
 * deletes the claim (the name was chosen here, so the server may have made it); a create the
 * server refused leaves nothing of ours to delete.
 */
import { ConfigurationError, KubernetesError } from '../../src/client-errors.js';
import { Sandbox } from '../../src/sandbox.js';
import { startFakeApiServer, type FakeApiServer, type Handler } from './route-fake-apiserver.js';

const CLAIMS = '/apis/extensions.agents.x-k8s.io/v1beta1/namespaces/ns/sandboxclaims';
const discovery: Handler = () => ({
  status: 200,
  body: { versions: [{ version: 'v1beta1' }, { version: 'v1alpha1' }] },
});
let fake: FakeApiServer | undefined;
/** Process warnings: a claim the client could not delete is one. */
const warnings: string[] = [];
const onWarning = (warning: Error): void => {
  warnings.push(warning.message);
};
beforeAll(() => process.on('warning', onWarning));
afterAll(() => process.off('warning', onWarning));

afterEach(async () => {
  await fake?.close();
});

const create = (kubeconfig: string, signal?: AbortSignal): Promise<Sandbox> =>
  Sandbox.create({
    kubeconfig,
    namespace: 'ns',
    pool: 'p',
    name: 'c1',
    routerUrl: 'http://127.0.0.1:9',
    token: 't',
    signal,
  });

test('an abort while the create call is under way deletes the claim, then rejects with the reason', async () => {
  let posted: () => void = () => undefined;
  const postArrived = new Promise<void>((resolve) => (posted = resolve));
  fake = await startFakeApiServer({
    'GET /apis/extensions.agents.x-k8s.io': discovery,
    [`POST ${CLAIMS}`]: () => {
      posted();
      return 'hold';
    },
    [`DELETE ${CLAIMS}/c1`]: () => ({ status: 200, body: {} }),
  });
  const controller = new AbortController();
  const creating = create(fake.kubeconfig, controller.signal);
  await postArrived;
  const reason = new Error('stop');
  controller.abort(reason);
  await expect(creating).rejects.toBe(reason);
  expect(fake.seen.map((s) => s.line)).toContain(`DELETE ${CLAIMS}/c1`);
  expect(warnings).toEqual([]);
});

test('a create the API server refused (409: maybe not ours) deletes nothing', async () => {
  fake = await startFakeApiServer({
    'GET /apis/extensions.agents.x-k8s.io': discovery,
    [`POST ${CLAIMS}`]: () => ({ status: 409, body: { message: 'sandboxclaims "c1" already exists' } }),
  });
  const error: unknown = await create(fake.kubeconfig).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(KubernetesError);
  expect(error).toMatchObject({
    status: 409,
    message: 'creating SandboxClaim ns/c1: 409 sandboxclaims "c1" already exists',
  });
  expect(fake.seen.some((s) => s.line.startsWith('DELETE'))).toBe(false);
});

test('a claim that turns Ready is a handle with its Sandbox; close() deletes it, detach() on another keeps it', async () => {
  const ready = {
    metadata: { name: 'c1', resourceVersion: '7' },
    status: { conditions: [{ type: 'Ready', status: 'True' }], sandbox: { name: 'p-abcde' } },
  };
  fake = await startFakeApiServer({
    'GET /apis/extensions.agents.x-k8s.io': discovery,
    [`POST ${CLAIMS}`]: () => ({ status: 201, body: { metadata: { name: 'c1', resourceVersion: '5' } } }),
    [`GET ${CLAIMS}`]: (_body, url) =>
      url.searchParams.get('watch') === 'true'
        ? { status: 200, body: { type: 'MODIFIED', object: ready } }
        : { status: 200, body: { metadata: { resourceVersion: '7' }, items: [ready] } },
    [`DELETE ${CLAIMS}/c1`]: () => ({ status: 200, body: {} }),
  });
  const sb = await create(fake.kubeconfig);
  expect(sb.target).toEqual({ namespace: 'ns', claimName: 'c1', sandboxName: 'p-abcde' });
  expect(fake.seen.find((s) => s.line.startsWith(`GET ${CLAIMS}?`))?.line).toMatch(/resourceVersion=5/);
  const attached = await Sandbox.attach('c1', {
    kubeconfig: fake.kubeconfig,
    namespace: 'ns',
    routerUrl: 'http://127.0.0.1:9',
  });
  await attached.detach();
  expect(fake.seen.some((s) => s.line.startsWith('DELETE'))).toBe(false);
  await sb[Symbol.asyncDispose]();
  await sb.close(); // idempotent
  expect(fake.seen.filter((s) => s.line.startsWith('DELETE')).map((s) => s.line)).toEqual([
    `DELETE ${CLAIMS}/c1`,
  ]);
});

test('options are parsed before anything is asked of a cluster; a problem names its field', async () => {
  const refused = async (options: unknown): Promise<string> => {
    const error: unknown = await Sandbox.create(options as Parameters<typeof Sandbox.create>[0]).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigurationError);
    return (error as Error).message;
  };
  expect(await refused({ templete: 'python' })).toMatch(/^templete: /);
  expect(await refused({ pool: 'p', timeoutMs: -1 })).toMatch(/^timeoutMs: /);
  expect(await refused({ pool: 'p', namespace: 'Not_A_Namespace' })).toMatch(
    /^namespace: must be a DNS-1123 label/,
  );
  expect(await refused({ pool: 'p', env: { A: 1 } })).toMatch(/^env\.A: /);
  expect(await refused({})).toMatch(/^template: name a SandboxTemplate/);
  await expect(Sandbox.list({ namespace: 'ns', gatewayName: 'g' } as never)).rejects.toThrow(
    /^gatewayName: /,
  );
});
