/**
 * One case per sandbox-profile rule (docs/sandbox-profile.md): a pod template that breaks that
 * rule and nothing else, and what both enforcers must say about it, as `field: message`. The
 * controller's unit test holds its own check to these; the admission policy's test holds the
 * policy to them on the real API server.
 */

type Json = Record<string, unknown>;

export interface PodTemplateCase {
  /** The rule, as the docs name it. */
  readonly rule: string;
  readonly podTemplate: {
    readonly metadata?: { readonly annotations?: Record<string, string> };
    readonly spec: Json;
  };
  /** What a SandboxTemplate (or Sandbox) with this pod template is refused with. */
  readonly violation: string;
}

export interface PodCase {
  readonly rule: string;
  /** A Pod spec as Sandbank would create it, with one thing missing or wrong. */
  readonly spec: Json;
  readonly violation: string;
  /** What the API server's own admission adds to this pod and the policy then refuses too. */
  readonly addedOnServer?: string;
}

const T = 'spec.podTemplate.spec';
const C0 = `${T}.containers[0]`;

/** A minimal template pod that passes: every field the profile cares about left to the defaults. */
export function compliantPodSpec(): Json {
  return { containers: [{ name: 'agent', image: 'ghcr.io/sandbank/runtime:0.1.0' }] };
}

function withSpec(patch: Json): { spec: Json } {
  return { spec: { ...compliantPodSpec(), ...patch } };
}

function withContainer(patch: Json): { spec: Json } {
  return { spec: { containers: [{ name: 'agent', image: 'ghcr.io/sandbank/runtime:0.1.0', ...patch }] } };
}

function withContainerContext(securityContext: Json): { spec: Json } {
  return withContainer({ securityContext });
}

export const TEMPLATE_CASES: readonly PodTemplateCase[] = [
  {
    rule: 'runtime class',
    podTemplate: withSpec({ runtimeClassName: 'runc' }),
    violation: `${T}.runtimeClassName: runtime class runc is not allowed (allowed: gvisor)`,
  },
  {
    rule: 'host network',
    podTemplate: withSpec({ hostNetwork: true }),
    violation: `${T}.hostNetwork: host networking is not allowed`,
  },
  {
    rule: 'host PID',
    podTemplate: withSpec({ hostPID: true }),
    violation: `${T}.hostPID: the host's process namespace is not allowed`,
  },
  {
    rule: 'host IPC',
    podTemplate: withSpec({ hostIPC: true }),
    violation: `${T}.hostIPC: the host's IPC namespace is not allowed`,
  },
  {
    rule: 'service account token',
    podTemplate: withSpec({ automountServiceAccountToken: true }),
    violation: `${T}.automountServiceAccountToken: service account tokens are not allowed`,
  },
  {
    rule: 'root (pod runAsNonRoot)',
    podTemplate: withSpec({ securityContext: { runAsNonRoot: false } }),
    violation: `${T}.securityContext.runAsNonRoot: running as root is not allowed`,
  },
  {
    rule: 'root (container runAsNonRoot)',
    podTemplate: withContainerContext({ runAsNonRoot: false }),
    violation: `${C0}.securityContext.runAsNonRoot: running as root is not allowed`,
  },
  {
    rule: 'root (pod runAsUser)',
    podTemplate: withSpec({ securityContext: { runAsUser: 0 } }),
    violation: `${T}.securityContext.runAsUser: user 0 (root) is not allowed`,
  },
  {
    rule: 'root (container runAsUser)',
    podTemplate: withContainerContext({ runAsUser: 0 }),
    violation: `${C0}.securityContext.runAsUser: user 0 (root) is not allowed`,
  },
  {
    rule: 'seccomp (pod)',
    podTemplate: withSpec({ securityContext: { seccompProfile: { type: 'Unconfined' } } }),
    violation: `${T}.securityContext.seccompProfile.type: seccomp profile Unconfined is not allowed (RuntimeDefault or Localhost)`,
  },
  {
    rule: 'seccomp (container)',
    podTemplate: withContainerContext({ seccompProfile: { type: 'Unconfined' } }),
    violation: `${C0}.securityContext.seccompProfile.type: seccomp profile Unconfined is not allowed (RuntimeDefault or Localhost)`,
  },
  {
    rule: 'SELinux type',
    podTemplate: withSpec({ securityContext: { seLinuxOptions: { type: 'spc_t' } } }),
    violation: `${T}.securityContext.seLinuxOptions.type: SELinux type spc_t is not allowed (container_t, container_init_t, container_kvm_t, container_engine_t)`,
  },
  {
    rule: 'SELinux user',
    podTemplate: withContainerContext({ seLinuxOptions: { user: 'system_u' } }),
    violation: `${C0}.securityContext.seLinuxOptions.user: must not be set`,
  },
  {
    rule: 'SELinux role',
    podTemplate: withContainerContext({ seLinuxOptions: { role: 'system_r' } }),
    violation: `${C0}.securityContext.seLinuxOptions.role: must not be set`,
  },
  {
    rule: 'AppArmor (field)',
    podTemplate: withSpec({ securityContext: { appArmorProfile: { type: 'Unconfined' } } }),
    violation: `${T}.securityContext.appArmorProfile.type: AppArmor profile Unconfined is not allowed (RuntimeDefault or Localhost)`,
  },
  {
    rule: 'AppArmor (annotation)',
    podTemplate: {
      metadata: { annotations: { 'container.apparmor.security.beta.kubernetes.io/agent': 'unconfined' } },
      spec: compliantPodSpec(),
    },
    violation:
      'spec.podTemplate.metadata.annotations[container.apparmor.security.beta.kubernetes.io/agent]: AppArmor profile unconfined is not allowed (runtime/default or localhost/*)',
  },
  {
    rule: 'host process',
    podTemplate: withContainerContext({ windowsOptions: { hostProcess: true } }),
    violation: `${C0}.securityContext.windowsOptions.hostProcess: host processes are not allowed`,
  },
  {
    rule: 'sysctls',
    podTemplate: withSpec({
      securityContext: {
        sysctls: [
          { name: 'net.ipv4.tcp_syncookies', value: '1' },
          { name: 'kernel.msgmax', value: '65536' },
        ],
      },
    }),
    violation: `${T}.securityContext.sysctls[1].name: sysctl kernel.msgmax is not allowed (only Pod Security's safe sysctls)`,
  },
  {
    rule: 'hostPath volume',
    podTemplate: withSpec({ volumes: [{ name: 'host', hostPath: { path: '/' } }] }),
    violation: `${T}.volumes[0].hostPath: hostPath volumes are not allowed (allowed: configMap, csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected, secret)`,
  },
  {
    rule: 'volume types',
    podTemplate: withSpec({
      volumes: [
        { name: 'scratch', emptyDir: {} },
        { name: 'share', nfs: { server: '10.0.0.1', path: '/' } },
      ],
    }),
    violation: `${T}.volumes[1].nfs: nfs volumes are not allowed (allowed: configMap, csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected, secret)`,
  },
  {
    rule: 'service account token (projected)',
    podTemplate: withSpec({
      volumes: [
        {
          name: 'token',
          projected: {
            sources: [{ downwardAPI: { items: [] } }, { serviceAccountToken: { path: 'token' } }],
          },
        },
      ],
    }),
    violation: `${T}.volumes[0].projected.sources[1].serviceAccountToken: service account tokens are not allowed`,
  },
  {
    rule: 'privileged',
    podTemplate: withContainerContext({ privileged: true }),
    violation: `${C0}.securityContext.privileged: privileged containers are not allowed`,
  },
  {
    rule: 'privileged (init container)',
    podTemplate: {
      spec: {
        ...compliantPodSpec(),
        initContainers: [{ name: 'setup', image: 'busybox:1.37', securityContext: { privileged: true } }],
      },
    },
    violation: `${T}.initContainers[0].securityContext.privileged: privileged containers are not allowed`,
  },
  {
    rule: 'privileged (ephemeral container)',
    podTemplate: {
      spec: {
        ...compliantPodSpec(),
        ephemeralContainers: [
          { name: 'debug', image: 'busybox:1.37', securityContext: { privileged: true } },
        ],
      },
    },
    violation: `${T}.ephemeralContainers[0].securityContext.privileged: privileged containers are not allowed`,
  },
  {
    rule: 'privilege escalation',
    podTemplate: withContainerContext({ allowPrivilegeEscalation: true }),
    violation: `${C0}.securityContext.allowPrivilegeEscalation: privilege escalation is not allowed`,
  },
  {
    rule: 'capabilities',
    podTemplate: withContainerContext({ capabilities: { add: ['SYS_ADMIN'] } }),
    violation: `${C0}.securityContext.capabilities.add: capability SYS_ADMIN is not allowed (allowed: none)`,
  },
  {
    rule: 'capabilities (ALL, spelled CAP_)',
    podTemplate: withContainerContext({ capabilities: { add: ['cap_all', 'CAP_NET_RAW'] } }),
    violation: `${C0}.securityContext.capabilities.add: capabilities ALL, NET_RAW are not allowed (allowed: none)`,
  },
  {
    rule: '/proc mount',
    podTemplate: withContainerContext({ procMount: 'Unmasked' }),
    violation: `${C0}.securityContext.procMount: /proc mount type Unmasked is not allowed (Default)`,
  },
  {
    rule: 'host ports',
    podTemplate: withContainer({
      ports: [
        { containerPort: 8888, protocol: 'TCP' },
        { containerPort: 8889, hostPort: 8889, protocol: 'TCP' },
      ],
    }),
    violation: `${C0}.ports[1].hostPort: host ports are not allowed`,
  },
  {
    rule: 'probe host',
    podTemplate: withContainer({
      readinessProbe: { httpGet: { host: '169.254.169.254', path: '/', port: 80 } },
    }),
    violation: `${C0}.readinessProbe.httpGet.host: probes and lifecycle hooks must not name a host`,
  },
  {
    rule: 'lifecycle hook host',
    podTemplate: withContainer({
      lifecycle: { preStop: { tcpSocket: { host: '10.96.0.1', port: 443 } } },
    }),
    violation: `${C0}.lifecycle.preStop.tcpSocket.host: probes and lifecycle hooks must not name a host`,
  },
];

/** A Pod spec as the controller creates it from the compliant template: passes as is. */
export function compliantSandboxPodSpec(): Json {
  return {
    runtimeClassName: 'gvisor',
    automountServiceAccountToken: false,
    securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
    containers: [
      {
        name: 'agent',
        image: 'ghcr.io/sandbank/runtime:0.1.0',
        securityContext: {
          allowPrivilegeEscalation: false,
          capabilities: { drop: ['ALL'] },
          readOnlyRootFilesystem: true,
        },
      },
    ],
  };
}

function podWithout(field: string): Json {
  return Object.fromEntries(Object.entries(compliantSandboxPodSpec()).filter(([key]) => key !== field));
}

/** `patch` merged in; a key set to undefined is removed. */
function merged(base: Json, patch: Json): Json {
  return Object.fromEntries(Object.entries({ ...base, ...patch }).filter(([, value]) => value !== undefined));
}

function podContext(patch: Json): Json {
  const spec = compliantSandboxPodSpec();
  return { ...spec, securityContext: merged(spec['securityContext'] as Json, patch) };
}

function podContainerContext(patch: Json): Json {
  const spec = compliantSandboxPodSpec();
  const [container] = spec['containers'] as Json[];
  return {
    ...spec,
    containers: [{ ...container, securityContext: merged(container?.['securityContext'] as Json, patch) }],
  };
}

/**
 * What a Pod must say itself (on a template the controller fills it in): the strict half of
 * the rules, which the policy applies to Sandbank's Pods only.
 */
export const POD_CASES: readonly PodCase[] = [
  {
    rule: 'runtime class (unset)',
    spec: podWithout('runtimeClassName'),
    violation: 'spec.runtimeClassName: must name an allowed runtime class (gvisor)',
  },
  {
    rule: 'service account token (unset)',
    spec: podWithout('automountServiceAccountToken'),
    violation: 'spec.automountServiceAccountToken: must be false',
    // Unset, the ServiceAccount admission plugin mounts the token as a projected volume.
    addedOnServer:
      'spec.volumes[0].projected.sources[0].serviceAccountToken: service account tokens are not allowed',
  },
  {
    rule: 'root (runAsNonRoot unset)',
    spec: podContext({ runAsNonRoot: undefined }),
    violation: 'spec.securityContext.runAsNonRoot: must be true',
  },
  {
    rule: 'seccomp (unset)',
    spec: podContext({ seccompProfile: undefined }),
    violation: 'spec.securityContext.seccompProfile: must be RuntimeDefault or Localhost',
  },
  {
    rule: 'privilege escalation (unset)',
    spec: podContainerContext({ allowPrivilegeEscalation: undefined }),
    violation: 'spec.containers[0].securityContext.allowPrivilegeEscalation: must be false',
  },
  {
    rule: 'capabilities (ALL not dropped)',
    spec: podContainerContext({ capabilities: { drop: ['NET_RAW'] } }),
    violation: 'spec.containers[0].securityContext.capabilities.drop: must include ALL',
  },
  {
    // (The API server itself refuses privileged with allowPrivilegeEscalation: false.)
    rule: 'privileged',
    spec: podContainerContext({ privileged: true, allowPrivilegeEscalation: true }),
    violation:
      'spec.containers[0].securityContext.privileged: privileged containers are not allowed; spec.containers[0].securityContext.allowPrivilegeEscalation: privilege escalation is not allowed',
  },
];
