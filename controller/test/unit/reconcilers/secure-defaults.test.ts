/** The secure defaults a template's pod gets: read-only root with writable scratch space. */
import type { PodSpec } from '@sandbank/api';
import { withSecureDefaults } from '../../../src/reconcilers/shared/pure-pods.js';

type Json = Record<string, unknown>;
const mounts = (spec: PodSpec, i = 0) => spec.containers[i]?.['volumeMounts'];
const context = (spec: PodSpec, i = 0) => spec.containers[i]?.['securityContext'] as Json;

describe('withSecureDefaults', () => {
  it('fills the runtime class, a read-only root, and emptyDirs at /workspace and /tmp', () => {
    const spec = withSecureDefaults({ containers: [{ name: 'agent' }] }, 'gvisor');
    expect(spec.runtimeClassName).toBe('gvisor');
    expect(context(spec)).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(mounts(spec)).toEqual([
      { name: 'sandbank-workspace', mountPath: '/workspace' },
      { name: 'sandbank-tmp', mountPath: '/tmp' },
    ]);
    expect(spec['volumes']).toEqual([
      { name: 'sandbank-workspace', emptyDir: {} },
      { name: 'sandbank-tmp', emptyDir: {} },
    ]);
  });

  it('keeps what the template set: its runtime class, a writable root (then no scratch volumes)', () => {
    const spec = withSecureDefaults(
      {
        runtimeClassName: 'kata',
        containers: [{ name: 'a', securityContext: { readOnlyRootFilesystem: false } }],
      },
      'gvisor',
    );
    expect(spec.runtimeClassName).toBe('kata');
    expect(context(spec)['readOnlyRootFilesystem']).toBe(false);
    expect(mounts(spec)).toBeUndefined();
    expect(spec['volumes']).toBeUndefined();
  });

  it('never shadows what a container mounts itself, and names its volumes apart from the template’s', () => {
    const spec = withSecureDefaults(
      {
        containers: [
          { name: 'a', volumeMounts: [{ name: 'data', mountPath: '/workspace/' }] },
          { name: 'b' },
        ],
        volumes: [
          { name: 'data', persistentVolumeClaim: { claimName: 'data' } },
          { name: 'sandbank-tmp', emptyDir: { medium: 'Memory' } },
        ],
      },
      'gvisor',
    );
    expect(mounts(spec, 0)).toEqual([
      { name: 'data', mountPath: '/workspace/' },
      { name: 'sandbank-tmp-1', mountPath: '/tmp' },
    ]);
    expect(mounts(spec, 1)).toEqual([
      { name: 'sandbank-workspace', mountPath: '/workspace' },
      { name: 'sandbank-tmp-1', mountPath: '/tmp' },
    ]);
    expect((spec['volumes'] as Json[]).map((v) => v['name'])).toEqual([
      'data',
      'sandbank-tmp',
      'sandbank-tmp-1',
      'sandbank-workspace',
    ]);
  });

  it("mounts the workspace where the container's agent is told it is", () => {
    const spec = withSecureDefaults(
      { containers: [{ name: 'a', env: [{ name: 'SANDBANK_AGENT_WORKSPACE', value: '/home/agent/work' }] }] },
      'gvisor',
    );
    expect(mounts(spec)).toEqual([
      { name: 'sandbank-home-agent-work', mountPath: '/home/agent/work' },
      { name: 'sandbank-tmp', mountPath: '/tmp' },
    ]);
  });

  it('adds ALL to a drop list the template gave, and secures init containers alike', () => {
    const spec = withSecureDefaults(
      {
        containers: [
          { name: 'a', securityContext: { capabilities: { add: ['NET_BIND_SERVICE'], drop: ['NET_RAW'] } } },
        ],
        initContainers: [{ name: 'init' }],
      },
      'gvisor',
    );
    expect(context(spec)['capabilities']).toEqual({ add: ['NET_BIND_SERVICE'], drop: ['NET_RAW', 'ALL'] });
    expect(spec.initContainers?.[0]?.['securityContext']).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
  });
});
