/**
 * Import rules of the design (layering). `make lint` fails on any violation; a planted
 * violation is exercised by api/test/unit/layering.test.ts so the rules cannot rot silently.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'api-is-pure',
      comment: 'api/ imports only zod and its own files: no I/O, no other workspace package.',
      severity: 'error',
      from: { path: '^api/src/' },
      to: { pathNot: ['^api/src/', 'node_modules/zod/'] },
    },
    {
      name: 'proto-is-standalone',
      comment: 'proto/ imports nothing from the rest of the repo.',
      severity: 'error',
      from: { path: '^proto/(src|gen)/' },
      to: { path: '^(api|controller|router|runtime-image|clients|e2e|bench)/' },
    },
    {
      name: 'proto-gen-only-through-proto',
      comment: 'Use @sandbank/proto; never reach into generated code from outside proto/.',
      severity: 'error',
      from: { pathNot: '^proto/' },
      to: { path: '^proto/gen/' },
    },
    {
      name: 'only-kube-talks-to-the-apiserver',
      comment:
        'Only kube/src uses client-node (for kubeconfigs and auth); everything else goes through @sandbank/kube. The published client (clients/ts) cannot depend on a private package: its own src/kube/ is its one place.',
      severity: 'error',
      from: {
        path: '^(controller|router|runtime-image|api|proto|bench|e2e)/src/|^clients/ts/src/',
        pathNot: '^clients/ts/src/kube/',
      },
      to: { path: 'node_modules/@kubernetes/client-node/' },
    },
    {
      name: 'kube-stays-in-its-lane',
      comment: 'kube/ is the layer under the controller and the router: it never imports them.',
      severity: 'error',
      from: { path: '^kube/' },
      to: { path: '^(controller|router|runtime-image|clients|proto|bench)/' },
    },
    {
      name: 'plan-is-pure',
      comment: 'plan.ts decides; it may import only api and sibling pure helpers.',
      severity: 'error',
      from: { path: '^controller/src/reconcilers/[^/]+/plan\\.ts$' },
      to: {
        pathNot: ['^api/', '^controller/src/reconcilers/[^/]+/(plan|pure-[^/]+)\\.ts$', 'node_modules/zod/'],
      },
    },
    {
      name: 'runtime-does-not-know-reconcilers',
      severity: 'error',
      from: { path: '^controller/src/runtime/' },
      to: { path: '^controller/src/reconcilers/' },
    },
    {
      name: 'controller-stays-in-its-lane',
      severity: 'error',
      from: { path: '^controller/' },
      to: { path: '^(router|runtime-image|clients)/' },
    },
    {
      name: 'router-stays-in-its-lane',
      comment:
        'The router never imports the controller, nor agent sources (tests may use the agent public API).',
      severity: 'error',
      from: { path: '^router/src/' },
      to: { path: '^(controller|runtime-image|clients)/' },
    },
    {
      name: 'agent-stays-in-its-lane',
      severity: 'error',
      from: { path: '^runtime-image/' },
      to: { path: '^(api|controller|router|clients)/' },
    },
    {
      name: 'testing-only-from-tests',
      comment: '@sandbank/testing is test and benchmark support: no package ships it.',
      severity: 'error',
      from: { path: '^(clients/ts|[^/]+)/src/', pathNot: '^testing/' },
      to: { path: '^testing/' },
    },
    {
      name: 'no-reaching-into-another-packages-tests',
      comment:
        "What tests of several packages share lives in @sandbank/testing, not in one package's test/ folder.",
      severity: 'error',
      from: { path: '^(clients/ts|[^/]+)/' },
      to: { path: '^(clients/ts|[^/]+)/test/', pathNot: '^$1/test/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['dist/', 'node_modules/', 'clients/ts/docs/api/'] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'types', 'default'] },
  },
};
