/**
 * The controller's own profile check, one case per rule (the same table the admission policy's
 * test uses), on the pod as the controller would create it, and the namespace relaxations.
 */
import { ProfileLabels } from '@sandbank/api';
import { POD_CASES, TEMPLATE_CASES, compliantPodSpec, compliantSandboxPodSpec } from '@sandbank/testing';
import { withSecureDefaults } from '../../../src/reconcilers/shared/pure-pods.js';
import {
  DEFAULT_PROFILE_SETTINGS,
  DEFAULT_SANDBOX_PROFILE,
  POD_PATHS,
  describeViolations,
  profileViolations,
  sandboxProfile,
  type SandboxProfile,
} from '../../../src/reconcilers/shared/pure-profile.js';

type Template = (typeof TEMPLATE_CASES)[number]['podTemplate'];

/** What the controller checks for a template: its pod, secure defaults applied. */
function check(template: Template, profile: SandboxProfile = DEFAULT_SANDBOX_PROFILE): string {
  const spec = { containers: [], ...template.spec } as Parameters<typeof withSecureDefaults>[0];
  return describeViolations(
    profileViolations(
      { ...template, spec: withSecureDefaults(spec, profile.runtimeClasses[0] ?? '') },
      profile,
    ),
  );
}

describe('profileViolations on a template pod', () => {
  it('passes the compliant pod', () => {
    expect(check({ spec: compliantPodSpec() })).toBe('');
  });

  it.each(TEMPLATE_CASES.map((c) => [c.rule, c]))('refuses %s, naming the field', (_rule, c) => {
    expect(check(c.podTemplate)).toBe(c.violation);
  });

  it('lists every violation, in the order the admission policy does', () => {
    const all = TEMPLATE_CASES.filter((c) => !c.rule.includes('('));
    const merged = {
      spec: Object.assign({}, ...all.map((c) => c.podTemplate.spec)) as Record<string, unknown>,
    };
    const found = check(merged).split('; ');
    expect(found.length).toBeGreaterThan(1);
    // The order is the policy's: pod fields, contexts, volumes, then container rules.
    expect(found[0]).toMatch(/runtimeClassName/);
  });
});

describe('profileViolations on a Pod (nothing left to defaults)', () => {
  it('passes the pod the controller makes', () => {
    expect(
      profileViolations({ spec: compliantSandboxPodSpec() } as never, DEFAULT_SANDBOX_PROFILE, POD_PATHS),
    ).toEqual([]);
  });

  it.each(POD_CASES.map((c) => [c.rule, c]))('refuses %s', (_rule, c) => {
    expect(
      describeViolations(profileViolations({ spec: c.spec } as never, DEFAULT_SANDBOX_PROFILE, POD_PATHS)),
    ).toBe(c.violation);
  });
});

const caseOf = (rule: string): Template => {
  const c = TEMPLATE_CASES.find((x) => x.rule === rule);
  if (!c) throw new Error(`no case ${rule}`);
  return c.podTemplate;
};

describe('sandboxProfile: what a namespace relaxes', () => {
  it('relaxes nothing without labels, or with values other than "true"', () => {
    expect(sandboxProfile(DEFAULT_PROFILE_SETTINGS, undefined)).toEqual(DEFAULT_SANDBOX_PROFILE);
    expect(
      sandboxProfile(DEFAULT_PROFILE_SETTINGS, {
        [ProfileLabels.allowRoot]: 'yes',
        [`${ProfileLabels.allowRuntimeClassPrefix}runc`]: 'True',
        [ProfileLabels.allowServiceAccountToken]: '',
      }),
    ).toEqual(DEFAULT_SANDBOX_PROFILE);
  });

  it('adds runtime classes and capabilities after the cluster list, never ALL', () => {
    const profile = sandboxProfile(
      { runtimeClasses: ['gvisor'], capabilities: ['NET_BIND_SERVICE'] },
      {
        [`${ProfileLabels.allowRuntimeClassPrefix}kata`]: 'true',
        [`${ProfileLabels.allowCapabilityPrefix}cap_sys_ptrace`]: 'true',
        [`${ProfileLabels.allowCapabilityPrefix}ALL`]: 'true',
        [ProfileLabels.allowRoot]: 'true',
        [ProfileLabels.allowServiceAccountToken]: 'true',
        [ProfileLabels.allowHostNetwork]: 'true',
      },
    );
    expect(profile).toEqual({
      runtimeClasses: ['gvisor', 'kata'],
      capabilities: ['NET_BIND_SERVICE', 'SYS_PTRACE'],
      allowRoot: true,
      allowServiceAccountToken: true,
      allowHostNetwork: true,
    });
  });

  it('lets a relaxed namespace have what its labels allow, and only that', () => {
    const relaxed = sandboxProfile(DEFAULT_PROFILE_SETTINGS, {
      [ProfileLabels.allowRoot]: 'true',
      [`${ProfileLabels.allowCapabilityPrefix}SYS_ADMIN`]: 'true',
      [ProfileLabels.allowServiceAccountToken]: 'true',
      [`${ProfileLabels.allowRuntimeClassPrefix}runc`]: 'true',
      [ProfileLabels.allowHostNetwork]: 'true',
    });
    for (const rule of [
      'root (pod runAsNonRoot)',
      'root (container runAsUser)',
      'capabilities',
      'service account token',
      'service account token (projected)',
      'runtime class',
      'host network',
      'host ports',
    ]) {
      expect({ rule, found: check(caseOf(rule), relaxed) }).toEqual({ rule, found: '' });
    }
    // ALL stays refused (NET_RAW too: not allowed); privileged and the host's other namespaces never relax.
    expect(check(caseOf('capabilities (ALL, spelled CAP_)'), relaxed)).toMatch(
      /capabilities ALL, NET_RAW are not allowed \(allowed: SYS_ADMIN\)$/,
    );
    expect(check(caseOf('privileged'), relaxed)).toMatch(/privileged containers are not allowed$/);
    expect(check(caseOf('host PID'), relaxed)).toMatch(/process namespace is not allowed$/);
  });
});
