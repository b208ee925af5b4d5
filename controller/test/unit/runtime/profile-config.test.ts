/** The sandbox profile settings: SANDBOX_RUNTIME_CLASSES and SANDBOX_ALLOWED_CAPABILITIES. */
import { ConfigError, loadConfig } from '../../../src/config.js';

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('sandbox profile settings', () => {
  it('reads the lists as the parameter ConfigMap writes them: trimmed, empty entries skipped', () => {
    const c = loadConfig({
      SANDBOX_RUNTIME_CLASSES: 'kata, gvisor,,',
      SANDBOX_ALLOWED_CAPABILITIES: 'net_bind_service, CAP_SYS_PTRACE',
    });
    expect(c.profile).toEqual({
      runtimeClasses: ['kata', 'gvisor'],
      capabilities: ['NET_BIND_SERVICE', 'SYS_PTRACE'],
    });
  });

  it('treats an empty list as unset: gVisor only, no capabilities', () => {
    expect(loadConfig({ SANDBOX_RUNTIME_CLASSES: ' , ', SANDBOX_ALLOWED_CAPABILITIES: '' }).profile).toEqual({
      runtimeClasses: ['gvisor'],
      capabilities: [],
    });
  });

  it('refuses a bad RuntimeClass name, a bad capability, and ALL, naming the variable', () => {
    expect(problemsOf({ SANDBOX_RUNTIME_CLASSES: 'gvisor,Not_A_Name' })).toEqual([
      expect.stringMatching(
        /^SANDBOX_RUNTIME_CLASSES \(--sandbox-runtime-classes\): "Not_A_Name" is not a RuntimeClass name/,
      ),
    ]);
    expect(problemsOf({ SANDBOX_ALLOWED_CAPABILITIES: 'SYS-ADMIN' })).toEqual([
      expect.stringMatching(/^SANDBOX_ALLOWED_CAPABILITIES .*"SYS-ADMIN" is not a capability name/),
    ]);
    expect(problemsOf({ SANDBOX_ALLOWED_CAPABILITIES: 'NET_RAW,all' })).toEqual([
      expect.stringMatching(/^SANDBOX_ALLOWED_CAPABILITIES .*"all" cannot be allowed/),
    ]);
  });
});
