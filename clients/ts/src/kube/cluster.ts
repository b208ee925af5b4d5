/**
 * The other reads the routes need: Secrets (the router's token and CA), the router's Service and a
 * Ready Pod behind it, what these credentials may do (SelfSubjectAccessReviews), and a Gateway's
 * address (a watch until it has one).
 */
import { z } from 'zod';
import { GatewayNotReady, KubernetesError } from '../client-errors.js';
import { beforeRewatch, refusal, statusMessage, type KubeApi } from './api.js';

/** A Secret as these credentials see it: its decoded data, missing (404), or forbidden (403: it may exist). */
export type SecretLookup =
  | { readonly state: 'found'; readonly data: Readonly<Record<string, Buffer>> }
  | { readonly state: 'missing' }
  | { readonly state: 'forbidden'; readonly message: string };

const SecretObject = z.object({ data: z.record(z.string(), z.string()).optional() });

const ServiceObject = z.object({
  spec: z.object({
    selector: z.record(z.string(), z.string()).optional(),
    ports: z
      .array(
        z.object({
          port: z.number(),
          targetPort: z.union([z.number(), z.string()]).optional(),
        }),
      )
      .optional(),
  }),
});

const PodList = z.object({
  items: z.array(
    z.object({
      metadata: z.object({ name: z.string(), deletionTimestamp: z.string().optional() }),
      spec: z
        .object({
          containers: z
            .array(
              z.object({
                ports: z
                  .array(z.object({ name: z.string().optional(), containerPort: z.number() }))
                  .optional(),
              }),
            )
            .optional(),
        })
        .optional(),
      status: z
        .object({
          phase: z.string().optional(),
          conditions: z.array(z.object({ type: z.string(), status: z.string() })).optional(),
        })
        .optional(),
    }),
  ),
});

const AccessReview = z.object({ status: z.object({ allowed: z.boolean() }).optional() });

const GatewayObject = z.object({
  status: z.object({ addresses: z.array(z.object({ value: z.string() })).optional() }).optional(),
});

/** A Service found, missing, or not readable with these credentials. */
export type ServiceLookup =
  | { readonly state: 'found'; readonly service: z.infer<typeof ServiceObject> }
  | { readonly state: 'missing' }
  | { readonly state: 'forbidden'; readonly message: string };

/** The Pod a port-forward to a Service port reaches, and the port on it. */
export interface ForwardTarget {
  readonly pod: string;
  readonly port: number;
}

const core = (namespace: string, rest: string): string =>
  `/api/v1/namespaces/${encodeURIComponent(namespace)}/${rest}`;

export class Cluster {
  constructor(private readonly api: KubeApi) {}

  async readSecret(namespace: string, name: string, signal?: AbortSignal): Promise<SecretLookup> {
    const what = `reading Secret ${namespace}/${name}`;
    const answer = await this.api.call(what, 'GET', core(namespace, `secrets/${encodeURIComponent(name)}`), {
      signal,
    });
    if (answer.status === 404) return { state: 'missing' };
    if (answer.status === 403) return { state: 'forbidden', message: statusMessage(answer) };
    if (answer.status !== 200) throw refusal(what, answer);
    const parsed = SecretObject.safeParse(answer.body);
    if (!parsed.success) throw new KubernetesError(`${what}: not a Secret`);
    const data: Record<string, Buffer> = {};
    for (const [key, value] of Object.entries(parsed.data.data ?? {}))
      data[key] = Buffer.from(value, 'base64');
    return { state: 'found', data };
  }

  async findService(namespace: string, name: string, signal?: AbortSignal): Promise<ServiceLookup> {
    const what = `reading Service ${namespace}/${name}`;
    const answer = await this.api.call(what, 'GET', core(namespace, `services/${encodeURIComponent(name)}`), {
      signal,
    });
    if (answer.status === 404) return { state: 'missing' };
    if (answer.status === 403) return { state: 'forbidden', message: statusMessage(answer) };
    if (answer.status !== 200) throw refusal(what, answer);
    const parsed = ServiceObject.safeParse(answer.body);
    if (!parsed.success) throw new KubernetesError(`${what}: not a Service`);
    return { state: 'found', service: parsed.data };
  }

  /**
   * A Running, Ready Pod behind the Service, and the container port its `servicePort` targets
   * (what `kubectl port-forward svc/…` picks); undefined when none is Ready.
   */
  async forwardTarget(
    namespace: string,
    service: z.infer<typeof ServiceObject>,
    servicePort: number,
    signal?: AbortSignal,
  ): Promise<ForwardTarget | undefined> {
    const selector = Object.entries(service.spec.selector ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    if (!selector) return undefined;
    const what = `listing the router's pods in ${namespace}`;
    const answer = await this.api.call(what, 'GET', core(namespace, 'pods'), {
      query: { labelSelector: selector },
      signal,
    });
    if (answer.status !== 200) throw refusal(what, answer);
    const pods = PodList.safeParse(answer.body);
    if (!pods.success) throw new KubernetesError(`${what}: not a PodList`);
    const target = service.spec.ports?.find((p) => p.port === servicePort)?.targetPort ?? servicePort;
    for (const pod of pods.data.items) {
      const ready = pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      if (pod.metadata.deletionTimestamp || pod.status?.phase !== 'Running' || !ready) continue;
      if (typeof target === 'number') return { pod: pod.metadata.name, port: target };
      const named = pod.spec?.containers
        ?.flatMap((c) => c.ports ?? [])
        .find((p) => p.name === target)?.containerPort;
      if (named !== undefined) return { pod: pod.metadata.name, port: named };
    }
    return undefined;
  }

  /**
   * Which of `rights` (`"<verb> <resource>[/<subresource>]"`, core group) these credentials lack in
   * `namespace`: one SelfSubjectAccessReview each, all in flight at once, as `kubectl auth can-i`
   * asks. Undefined when the API server answers no review (then the call itself will say).
   */
  async missingRights(
    namespace: string,
    rights: readonly string[],
    signal?: AbortSignal,
  ): Promise<string[] | undefined> {
    const answers = await Promise.all(
      rights.map(async (right) => {
        const [verb = '', resource = ''] = right.split(' ');
        const [plural, subresource] = resource.split('/');
        const what = `asking whether these credentials may ${right} in namespace ${namespace}`;
        const answer = await this.api.call(
          what,
          'POST',
          '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
          {
            body: {
              apiVersion: 'authorization.k8s.io/v1',
              kind: 'SelfSubjectAccessReview',
              spec: {
                resourceAttributes: {
                  namespace,
                  verb,
                  resource: plural,
                  ...(subresource ? { subresource } : {}),
                },
              },
            },
            signal,
          },
        );
        if (answer.status !== 201 && answer.status !== 200) return undefined;
        return { right, allowed: AccessReview.safeParse(answer.body).data?.status?.allowed === true };
      }),
    );
    if (answers.some((a) => a === undefined)) return undefined;
    return answers.flatMap((a) => (a && !a.allowed ? [a.right] : []));
  }

  /** Watches the Gateway until `status.addresses[0].value` is set; GatewayNotReady at the deadline. */
  async gatewayAddress(
    namespace: string,
    name: string,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<string> {
    const what = `watching Gateway ${namespace}/${name}`;
    const path = `/apis/gateway.networking.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/gateways`;
    const startedAt = Date.now();
    const deadline = AbortSignal.timeout(timeoutMs);
    const watchSignal = signal ? AbortSignal.any([signal, deadline]) : deadline;
    try {
      for (;;) {
        watchSignal.throwIfAborted();
        const seconds = Math.max(1, Math.ceil((startedAt + timeoutMs - Date.now()) / 1000));
        const watchStarted = Date.now();
        try {
          // From the current state each time (no resourceVersion): the first event is the Gateway as it is.
          for await (const event of this.api.watch(what, path, seconds, {
            query: { fieldSelector: `metadata.name=${name}` },
            signal: watchSignal,
          })) {
            const address = GatewayObject.safeParse(event.object).data?.status?.addresses?.find(
              (a) => a.value,
            );
            if (address) return address.value;
          }
        } catch (error) {
          if (error instanceof KubernetesError && error.status === 404) {
            throw new KubernetesError(
              `Gateway ${namespace}/${name}: the Gateway API is not installed on this cluster`,
              404,
            );
          }
          throw error;
        }
        await beforeRewatch(watchStarted, watchSignal);
      }
    } catch (error) {
      if (deadline.aborted && !signal?.aborted) {
        throw new GatewayNotReady(`Gateway ${namespace}/${name} has no address after ${timeoutMs} ms`);
      }
      throw error;
    }
  }
}
