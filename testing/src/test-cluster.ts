/**
 * Kubernetes objects for integration tests that route to sandboxes (the router's, the clients'): a
 * namespace per suite, and claims,
 * Sandboxes and Pods created the way the controller binds them (claim → Sandbox → Pod, each
 * controlled by the previous one's UID), with the Pod's status (Ready, podIP = a loopback address
 * where a real agent listens) written through the status subresource. The pods name a scheduler
 * that does not exist, so neither the scheduler nor kwok touch them.
 */
import { randomBytes } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import type { KubeConfig, V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import { Annotations, Labels, nameHash } from '@sandbank/api';
import { AGENT_CREDENTIAL_ANNOTATION } from '@sandbank/kube';

const EXT = { group: 'extensions.agents.x-k8s.io', version: 'v1alpha1' };
const AGENTS = { group: 'agents.x-k8s.io', version: 'v1alpha1' };

/** A controller owner reference, as the Sandbank controller writes them. */
export interface Controller {
  readonly kind: 'SandboxClaim' | 'Sandbox';
  readonly name: string;
  readonly uid: string;
}

const ownerReferences = (owner: Controller | undefined) =>
  owner === undefined
    ? {}
    : {
        ownerReferences: [
          {
            apiVersion:
              owner.kind === 'Sandbox' ? `${AGENTS.group}/${AGENTS.version}` : `${EXT.group}/${EXT.version}`,
            kind: owner.kind,
            name: owner.name,
            uid: owner.uid,
            controller: true,
          },
        ],
      };

export class TestCluster {
  readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;
  readonly namespace: string;

  constructor(
    readonly kc: KubeConfig,
    prefix: string,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.namespace = `${prefix}-${randomBytes(3).toString('hex')}`;
  }

  async setUp(): Promise<void> {
    await this.core.createNamespace({ body: { metadata: { name: this.namespace } } });
  }

  async tearDown(): Promise<void> {
    await this.core.deleteNamespace({ name: this.namespace }).catch(() => undefined);
  }

  async createClaim(name: string): Promise<string> {
    const claim = (await this.custom.createNamespacedCustomObject({
      ...EXT,
      plural: 'sandboxclaims',
      namespace: this.namespace,
      body: {
        apiVersion: `${EXT.group}/${EXT.version}`,
        kind: 'SandboxClaim',
        metadata: { name },
        spec: { sandboxTemplateRef: { name: 'tpl' } },
      },
    })) as { metadata: { uid: string } };
    return claim.metadata.uid;
  }

  /** A Sandbox (controlled by the claim named like it when `claimUid` is given); its UID. */
  async createSandbox(name: string, opts: { podName: string; claimUid?: string }): Promise<string> {
    const sandbox = (await this.custom.createNamespacedCustomObject({
      ...AGENTS,
      plural: 'sandboxes',
      namespace: this.namespace,
      body: {
        apiVersion: `${AGENTS.group}/${AGENTS.version}`,
        kind: 'Sandbox',
        metadata: {
          name,
          annotations: { [Annotations.podName]: opts.podName },
          ...ownerReferences(
            opts.claimUid === undefined ? undefined : { kind: 'SandboxClaim', name, uid: opts.claimUid },
          ),
        },
        spec: { podTemplate: { spec: { containers: [{ name: 'agent', image: 'sandbank/agent:test' }] } } },
      },
    })) as { metadata: { uid: string } };
    return sandbox.metadata.uid;
  }

  async createPod(
    name: string,
    labels: Record<string, string>,
    controller?: Controller,
    annotations?: Record<string, string>,
    /** The container's declared TCP ports (what the port route may reach). */
    ports: readonly number[] = [],
  ): Promise<V1Pod> {
    return this.core.createNamespacedPod({
      namespace: this.namespace,
      body: {
        metadata: { name, labels, ...(annotations ? { annotations } : {}), ...ownerReferences(controller) },
        spec: {
          schedulerName: 'sandbank-router-test-no-scheduler',
          containers: [
            {
              name: 'agent',
              image: 'sandbank/agent:test',
              ...(ports.length === 0 ? {} : { ports: ports.map((containerPort) => ({ containerPort })) }),
            },
          ],
        },
      },
    });
  }

  /** `containerStatuses`: what the kubelet reports of the containers (a termination, say). */
  async setPodStatus(
    name: string,
    ip: string,
    ready: boolean,
    containerStatuses?: V1ContainerStatus[],
  ): Promise<void> {
    const pod = await this.core.readNamespacedPod({ name, namespace: this.namespace });
    pod.status = {
      phase: 'Running',
      podIP: ip,
      podIPs: [{ ip }],
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
      ...(containerStatuses === undefined ? {} : { containerStatuses }),
    };
    await this.core.replaceNamespacedPodStatus({ name, namespace: this.namespace, body: pod });
  }

  /**
   * A claim, its Sandbox and the Pod that Sandbox adopted, Ready at `ip`: a routable sandbox.
   * `annotation`: the Pod's agent credential annotation (a credentialed test agent's), as the
   * controller writes it. Returns the UIDs, for tests that forge links to it.
   */
  async bindSandbox(
    name: string,
    ip: string,
    extraLabels: Record<string, string> = {},
    annotation?: string,
    ports: readonly number[] = [],
  ): Promise<{ claimUid: string; sandboxUid: string; podName: string }> {
    const claimUid = await this.createClaim(name);
    const podName = `${name}-pod`;
    const sandboxUid = await this.createSandbox(name, { podName, claimUid });
    await this.createPod(
      podName,
      { [Labels.sandboxNameHash]: nameHash(name), [Labels.claimUid]: claimUid, ...extraLabels },
      { kind: 'Sandbox', name, uid: sandboxUid },
      annotation === undefined ? undefined : { [AGENT_CREDENTIAL_ANNOTATION]: annotation },
      ports,
    );
    await this.setPodStatus(podName, ip, true);
    return { claimUid, sandboxUid, podName };
  }

  /** Replaces a Pod's labels (what anyone allowed to patch Pods can do). */
  async relabelPod(name: string, labels: Record<string, string>): Promise<void> {
    const pod = await this.core.readNamespacedPod({ name, namespace: this.namespace });
    if (pod.metadata === undefined) throw new Error(`pod ${name} has no metadata`);
    pod.metadata.labels = labels;
    await this.core.replaceNamespacedPod({ name, namespace: this.namespace, body: pod });
  }
}
