/**
 * What a claim may ask for beyond its template: extra pod metadata, environment variables and
 * volume claim templates. Each check returns a message for the claim's terminal condition, or
 * undefined. Pure.
 */
import type {
  ClaimEnvVar,
  PersistentVolumeClaimTemplate,
  PodTemplate,
  SandboxClaim,
  SandboxTemplate,
  Stored,
} from '@sandbank/api';

/** Prefixes Sandbank and Kubernetes manage; a claim may not set them on its Pod. */
const RESERVED_PREFIXES = ['agents.x-k8s.io/', 'sandbank.dev/', 'kubernetes.io/', 'k8s.io/'];
/** Exceptions callers legitimately need (cluster autoscaler hint, like upstream). */
const ALLOWED_RESERVED_ANNOTATIONS = new Set(['cluster-autoscaler.kubernetes.io/safe-to-evict']);

function reserved(key: string): boolean {
  const prefix = key.includes('/') ? key.slice(0, key.indexOf('/') + 1) : '';
  return RESERVED_PREFIXES.some((r) => prefix === r || prefix.endsWith(`.${r}`));
}

export function additionalMetadataProblem(
  claim: Readonly<Stored<SandboxClaim>>,
  template: Readonly<Stored<SandboxTemplate>>,
): string | undefined {
  const extra = claim.spec.additionalPodMetadata;
  if (!extra) return undefined;
  const templateMeta = template.spec.podTemplate.metadata ?? {};
  const problems: string[] = [];
  for (const [key, value] of Object.entries(extra.labels ?? {})) {
    if (reserved(key)) problems.push(`label ${key} uses a reserved prefix`);
    if (key === 'app' && value === 'sandbox-router')
      problems.push('label app=sandbox-router would make the Pod look like the router');
    const fromTemplate = templateMeta.labels?.[key];
    if (fromTemplate !== undefined && fromTemplate !== value)
      problems.push(`label ${key} conflicts with the template (${fromTemplate})`);
  }
  for (const [key, value] of Object.entries(extra.annotations ?? {})) {
    if (reserved(key) && !ALLOWED_RESERVED_ANNOTATIONS.has(key))
      problems.push(`annotation ${key} uses a reserved prefix`);
    const fromTemplate = templateMeta.annotations?.[key];
    if (fromTemplate !== undefined && fromTemplate !== value)
      problems.push(`annotation ${key} conflicts with the template`);
  }
  return problems.length > 0 ? `additionalPodMetadata: ${problems.join('; ')}` : undefined;
}

function containerEnvNames(template: PodTemplate, containerName: string): Set<string> | undefined {
  const container = template.spec.containers.find((c) => c.name === containerName);
  if (!container) return undefined;
  const env = Array.isArray(container['env']) ? (container['env'] as { name?: unknown }[]) : [];
  return new Set(env.map((e) => String(e.name)));
}

function targetContainer(template: PodTemplate, v: ClaimEnvVar): string {
  return v.containerName || (template.spec.containers[0]?.name ?? '');
}

export function envProblem(
  claim: Readonly<Stored<SandboxClaim>>,
  template: Readonly<Stored<SandboxTemplate>>,
): string | undefined {
  const env = claim.spec.env ?? [];
  if (env.length === 0) return undefined;
  const policy = template.spec.envVarsInjectionPolicy;
  if (policy === 'Disallowed') {
    return `SandboxTemplate ${template.metadata.name} does not allow claims to set env (envVarsInjectionPolicy: Disallowed)`;
  }
  for (const v of env) {
    const container = targetContainer(template.spec.podTemplate, v);
    const names = containerEnvNames(template.spec.podTemplate, container);
    if (!names) return `env ${v.name}: the template has no container named ${container}`;
    if (policy === 'Allowed' && names.has(v.name)) {
      return `env ${v.name}: the template already sets it and its envVarsInjectionPolicy is Allowed, not Overrides`;
    }
  }
  return undefined;
}

/** The template's pod template with the claim's env and extra metadata merged in. */
export function podTemplateForClaim(
  claim: Readonly<Stored<SandboxClaim>>,
  template: Readonly<Stored<SandboxTemplate>>,
): PodTemplate {
  const base = template.spec.podTemplate;
  const extra = claim.spec.additionalPodMetadata ?? {};
  const env = claim.spec.env ?? [];
  const containers = base.spec.containers.map((container) => {
    const mine = env.filter((v) => targetContainer(base, v) === container.name);
    if (mine.length === 0) return container;
    const existing = Array.isArray(container['env']) ? (container['env'] as { name: string }[]) : [];
    const overridden = new Set(mine.map((v) => v.name));
    return {
      ...container,
      env: [
        ...existing.filter((e) => !overridden.has(e.name)),
        ...mine.map((v) => ({ name: v.name, value: v.value })),
      ],
    };
  });
  const labels = { ...base.metadata?.labels, ...extra.labels };
  const annotations = { ...base.metadata?.annotations, ...extra.annotations };
  return {
    metadata: {
      ...(Object.keys(labels).length ? { labels } : {}),
      ...(Object.keys(annotations).length ? { annotations } : {}),
    },
    spec: { ...base.spec, containers },
  };
}

/** The volume claim templates a claim's Sandbox gets, or why the claim cannot have them. */
export type ClaimVolumes =
  | { readonly ok: true; readonly templates: readonly PersistentVolumeClaimTemplate[] }
  | { readonly ok: false; readonly message: string };

/**
 * The template's volume claim templates merged with the claim's, by the template's
 * `volumeClaimTemplatesPolicy` (as upstream): `Disallowed` refuses any, `Allowed` appends them
 * (a name the template already has is refused), `Overrides` puts the claim's entry in place of the
 * template's of the same name and appends the others. A claim repeating a name is refused under every policy: the
 * Pod could mount only one of the two.
 */
export function claimVolumes(
  claim: Readonly<Stored<SandboxClaim>>,
  template: Readonly<Stored<SandboxTemplate>>,
): ClaimVolumes {
  const base = template.spec.volumeClaimTemplates ?? [];
  const extra = claim.spec.volumeClaimTemplates ?? [];
  if (extra.length === 0) return { ok: true, templates: base };
  const policy = template.spec.volumeClaimTemplatesPolicy;
  if (policy === 'Disallowed') {
    return {
      ok: false,
      message: `spec.volumeClaimTemplates: SandboxTemplate ${template.metadata.name} does not allow claims to add volume claim templates (volumeClaimTemplatesPolicy: Disallowed)`,
    };
  }
  const seen = new Set<string>();
  for (const [i, vct] of extra.entries()) {
    const name = vct.metadata.name;
    if (!name) return { ok: false, message: `spec.volumeClaimTemplates[${i}].metadata.name: required` };
    if (seen.has(name))
      return { ok: false, message: `spec.volumeClaimTemplates[${i}]: the name ${name} appears twice` };
    seen.add(name);
  }
  if (policy === 'Allowed') {
    const clash = base.find((vct) => vct.metadata.name !== undefined && seen.has(vct.metadata.name));
    if (clash) {
      return {
        ok: false,
        message: `spec.volumeClaimTemplates: ${clash.metadata.name ?? ''} is already a volume claim template of SandboxTemplate ${template.metadata.name}, and its volumeClaimTemplatesPolicy is Allowed, not Overrides`,
      };
    }
    return { ok: true, templates: [...base, ...extra] };
  }
  // Overrides: the claim's entry takes the place of the template's of the same name.
  const byName = new Map(extra.map((vct) => [vct.metadata.name, vct]));
  const merged = base.map((vct) =>
    vct.metadata.name === undefined ? vct : (byName.get(vct.metadata.name) ?? vct),
  );
  const baseNames = new Set(base.map((vct) => vct.metadata.name));
  return { ok: true, templates: [...merged, ...extra.filter((vct) => !baseNames.has(vct.metadata.name))] };
}
