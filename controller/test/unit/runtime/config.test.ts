import { hostname } from 'node:os';
import { ConfigError, loadConfig, workersFor } from '../../../src/config.js';

function problemsOf(env: Record<string, string>, argv: string[] = []): readonly string[] {
  try {
    loadConfig(env, argv);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('has safe defaults for an empty environment', () => {
    const c = loadConfig({});
    expect(c).toEqual({
      kubeconfig: undefined,
      watchNamespaces: [],
      workers: 8,
      workersByController: {},
      leaderElection: {
        enabled: true,
        namespace: 'sandbank-system',
        name: 'sandbank-controller',
        identity: `${hostname()}_${process.pid}`,
        leaseDurationMs: 15_000,
        renewDeadlineMs: 10_000,
        retryPeriodMs: 2_000,
      },
      http: { port: 8080, bindAddress: '0.0.0.0' },
      logLevel: 'info',
      router: { podSelector: { app: 'sandbox-router' }, namespaces: ['.'] },
      clusterDomain: 'cluster.local',
      profile: { runtimeClasses: ['gvisor'], capabilities: [] },
      agentKeySecret: { namespace: 'sandbank-system', name: 'sandbank-agent-key' },
      storageMigration: 'auto',
    });
  });

  it('finds the agent key Secret in its own namespace, or where AGENT_KEY_SECRET says', () => {
    expect(loadConfig({ POD_NAMESPACE: 'ops' }).agentKeySecret).toEqual({
      namespace: 'ops',
      name: 'sandbank-agent-key',
    });
    expect(loadConfig({ POD_NAMESPACE: 'ops', AGENT_KEY_SECRET: 'k' }).agentKeySecret).toEqual({
      namespace: 'ops',
      name: 'k',
    });
    expect(loadConfig({}, ['--agent-key-secret=team-x/key.v2']).agentKeySecret).toEqual({
      namespace: 'team-x',
      name: 'key.v2',
    });
    for (const bad of ['a/b/c', '/k', 'ns/', 'Upper', 'ns/-k']) {
      expect(problemsOf({ AGENT_KEY_SECRET: bad })).toEqual([
        'AGENT_KEY_SECRET (--agent-key-secret): must be a Secret name, or namespace/name',
      ]);
    }
  });

  it('reads the environment and lets flags override it', () => {
    const c = loadConfig(
      {
        KUBECONFIG: '/tmp/kc',
        WATCH_NAMESPACE: 'team-a',
        CONTROLLER_WORKERS: '4',
        CONTROLLER_WORKERS_BY_NAME: 'sandboxclaim=16, sandboxwarmpool=2',
        LEADER_ELECT: 'false',
        POD_NAMESPACE: 'ops',
        LOG_LEVEL: 'DEBUG',
        ROUTER_POD_SELECTOR: 'app.kubernetes.io/name=router,tier=edge',
        ROUTER_NAMESPACES: 'sandbank-system, agent-sandbox-system',
        HTTP_PORT: '9000',
      },
      ['--http-port=9443', '--leader-elect', '--watch-namespace=team-b', '--log-level=warn'],
    );
    expect(c.kubeconfig).toBe('/tmp/kc');
    expect(c.watchNamespaces).toEqual(['team-b']);
    expect(workersFor(c, 'sandboxclaim')).toBe(16);
    expect(workersFor(c, 'sandbox')).toBe(4);
    expect(c.leaderElection.enabled).toBe(true);
    expect(c.leaderElection.namespace).toBe('ops');
    expect(c.logLevel).toBe('warn');
    expect(c.http.port).toBe(9443);
    expect(c.router).toEqual({
      podSelector: { 'app.kubernetes.io/name': 'router', tier: 'edge' },
      namespaces: ['sandbank-system', 'agent-sandbox-system'],
    });
  });

  it('treats empty variables as unset', () => {
    const c = loadConfig({ WATCH_NAMESPACE: '', KUBECONFIG: ' ', ROUTER_POD_SELECTOR: '' });
    expect(c.watchNamespaces).toEqual([]);
    expect(c.kubeconfig).toBeUndefined();
    expect(c.router.podSelector).toEqual({ app: 'sandbox-router' });
  });

  it("reads ROUTER_NAMESPACES as router namespaces, `.` for the sandbox's own; unset: the sandbox's own", () => {
    expect(loadConfig({}).router.namespaces).toEqual(['.']);
    expect(loadConfig({ ROUTER_NAMESPACES: ' ' }).router.namespaces).toEqual(['.']);
    expect(loadConfig({ ROUTER_NAMESPACES: '., sandbank-system,.' }).router.namespaces).toEqual([
      '.',
      'sandbank-system',
    ]);
    expect(loadConfig({}, ['--router-namespaces=agent-sandbox-system']).router.namespaces).toEqual([
      'agent-sandbox-system',
    ]);
  });

  it('stops on a leftover ROUTER_NAMESPACE (even empty), naming its replacement', () => {
    for (const value of ['sandbank-system', '']) {
      expect(problemsOf({ ROUTER_NAMESPACE: value })).toEqual([
        expect.stringMatching(
          /^ROUTER_NAMESPACE: removed; use ROUTER_NAMESPACES \(--router-namespaces\): comma list/,
        ),
      ]);
    }
    expect(problemsOf({}, ['--router-namespace=x'])).toEqual([
      expect.stringMatching(/^--router-namespace=x: removed; use ROUTER_NAMESPACES \(--router-namespaces\)/),
    ]);
  });

  it('reads WATCH_NAMESPACE as a comma-separated list of namespaces, in order, without repeats', () => {
    expect(loadConfig({ WATCH_NAMESPACE: 'team-a' }).watchNamespaces).toEqual(['team-a']);
    expect(loadConfig({ WATCH_NAMESPACE: ' team-b , team-a,team-b ' }).watchNamespaces).toEqual([
      'team-b',
      'team-a',
    ]);
    expect(loadConfig({}, ['--watch-namespace=a,b,c']).watchNamespaces).toEqual(['a', 'b', 'c']);
  });

  const bad: readonly [string, Record<string, string>, string[], RegExp][] = [
    [
      'a non-numeric port',
      { HTTP_PORT: 'eighty' },
      [],
      /^HTTP_PORT \(--http-port\): must be an integer from 0 to 65535 \(got "eighty"\)$/,
    ],
    ['a port out of range', {}, ['--http-port=70000'], /^HTTP_PORT \(--http-port\): must be an integer/],
    [
      'zero workers',
      { CONTROLLER_WORKERS: '0' },
      [],
      /^CONTROLLER_WORKERS \(--controller-workers\): must be an integer from 1/,
    ],
    [
      'a bad worker override',
      { CONTROLLER_WORKERS_BY_NAME: 'sandboxclaim' },
      [],
      /^CONTROLLER_WORKERS_BY_NAME .*"sandboxclaim" is not controller=workers/,
    ],
    [
      'a bad boolean',
      { LEADER_ELECT: 'maybe' },
      [],
      /^LEADER_ELECT \(--leader-elect\): must be true or false \(got "maybe"\)$/,
    ],
    [
      'a bad namespace',
      { WATCH_NAMESPACE: 'Team_A' },
      [],
      /^WATCH_NAMESPACE \(--watch-namespace\): "Team_A" is not a namespace name/,
    ],
    [
      'a bad namespace in a list',
      { WATCH_NAMESPACE: 'team-a,team_b' },
      [],
      /^WATCH_NAMESPACE \(--watch-namespace\): "team_b" is not a namespace name \(DNS-1123 label/,
    ],
    [
      'an empty entry in a list',
      { WATCH_NAMESPACE: 'team-a,,team-b' },
      [],
      /^WATCH_NAMESPACE \(--watch-namespace\): entry 2 is empty/,
    ],
    [
      'a bad router namespace',
      { ROUTER_NAMESPACES: 'sandbank-system,Agent_Sandbox' },
      [],
      /^ROUTER_NAMESPACES \(--router-namespaces\): "Agent_Sandbox" is not a namespace name/,
    ],
    [
      'an empty router namespace entry',
      { ROUTER_NAMESPACES: 'sandbank-system,' },
      [],
      /^ROUTER_NAMESPACES \(--router-namespaces\): entry 2 is empty/,
    ],
    [
      '`.` where a namespace name is needed',
      { WATCH_NAMESPACE: '.' },
      [],
      /^WATCH_NAMESPACE \(--watch-namespace\): "\." is not a namespace name/,
    ],
    ['a bad log level', { LOG_LEVEL: 'loud' }, [], /^LOG_LEVEL \(--log-level\): must be one of trace, debug/],
    [
      'a bad router selector',
      { ROUTER_POD_SELECTOR: 'app=no spaces' },
      [],
      /^ROUTER_POD_SELECTOR .*"app=no spaces" is not label=value/,
    ],
    [
      'a bad label key',
      { ROUTER_POD_SELECTOR: '-app=x' },
      [],
      /^ROUTER_POD_SELECTOR .*label keys must be qualified names/,
    ],
    [
      'a renew deadline above the lease duration',
      { LEADER_ELECTION_LEASE_DURATION_MS: '5000', LEADER_ELECTION_RENEW_DEADLINE_MS: '6000' },
      [],
      /^LEADER_ELECTION_RENEW_DEADLINE_MS \(--leader-election-renew-deadline-ms\): must be below LEADER_ELECTION_LEASE_DURATION_MS \(5000\)$/,
    ],
    [
      'an unknown flag',
      {},
      ['--wach-namespace=x'],
      /^--wach-namespace=x: unknown argument \(flags: --kubeconfig, /,
    ],
    ['a positional argument', {}, ['serve'], /^serve: unknown argument/],
  ];

  it.each(bad)('names the variable for %s', (_what, env, argv, message) => {
    const problems = problemsOf(env, argv);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(message);
  });

  it('reports every problem at once, in a message without a stack dump', () => {
    let error: unknown;
    try {
      loadConfig({ HTTP_PORT: 'x', LOG_LEVEL: 'y' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    expect(message).toMatch(/^invalid configuration:\n {2}HTTP_PORT .*\n {2}LOG_LEVEL /);
    expect(message).not.toMatch(/\bat .*\.ts:\d+/);
  });
});
