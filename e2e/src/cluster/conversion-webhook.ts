// The conversion webhook for a control plane on loopback (the jest integration run, the
// benchmarks' and the dev CLI's control planes): the CRDs store v1beta1 and serve v1alpha1, so
// every v1alpha1 request goes through it. It runs as its own process (the controller's
// `webhook/standalone.ts`, exiting with its parent), serves on 127.0.0.1, and the CRDs point at
// it by URL with its CA: a control plane without cluster networking cannot reach a Service.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { clusterBinary, repoRoot } from './paths.js';
import { run } from './process.js';

/** The four CRDs the webhook converts. */
export const SANDBANK_CRD_NAMES = [
  'sandboxes.agents.x-k8s.io',
  'sandboxtemplates.extensions.agents.x-k8s.io',
  'sandboxwarmpools.extensions.agents.x-k8s.io',
  'sandboxclaims.extensions.agents.x-k8s.io',
] as const;

export interface ConversionWebhook {
  /** https://127.0.0.1:<port>/convert */
  readonly url: string;
  /** Its process id (the watchdog of a killed test run is the process itself). */
  readonly pid: number;
  /** Stops the process and removes its certificate directory. Safe to call twice. */
  stop(): Promise<void>;
}

export interface ConversionWebhookOptions {
  /** How long to wait for the process to listen and for the API server to convert through it. Default 60 s. */
  readonly timeoutSeconds?: number;
  readonly onProgress?: (line: string) => void;
}

interface Ready {
  readonly port: number;
  readonly caPem: string;
}

/**
 * Starts the webhook, points the CRDs of `kubeconfigPath`'s API server at it and returns once a
 * v1alpha1 read of a v1beta1-written object succeeds (conversion configured and served).
 */
export async function startConversionWebhook(
  kubeconfigPath: string,
  opts: ConversionWebhookOptions = {},
): Promise<ConversionWebhook> {
  const timeoutMs = (opts.timeoutSeconds ?? 60) * 1000;
  const dir = mkdtempSync(join(tmpdir(), 'sandbank-webhook-'));
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', join(repoRoot, 'controller/src/webhook/standalone.ts')],
    {
      cwd: repoRoot,
      env: { ...process.env, WEBHOOK_TLS_DIR: dir, LOG_LEVEL: process.env['WEBHOOK_LOG_LEVEL'] ?? 'warn' },
      // stdin stays open while we live: the process exits when it closes (we died or stopped it).
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  const stderr: string[] = [];
  createInterface({ input: child.stderr }).on('line', (line) => {
    stderr.push(line);
    if (stderr.length > 40) stderr.shift();
    opts.onProgress?.(`[webhook] ${line}`);
  });
  // Never keep the test runner alive for the webhook's sake.
  child.unref();
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= stopChild(child).finally(() => rmSync(dir, { recursive: true, force: true }));
    return stopped;
  };
  try {
    const ready = await readyLine(child, timeoutMs, () => stderr.join('\n'));
    const url = `https://127.0.0.1:${ready.port}/convert`;
    await pointCrdsAt(kubeconfigPath, url, ready.caPem);
    await waitForConversion(kubeconfigPath, timeoutMs);
    opts.onProgress?.(`[sandbank] conversion webhook (pid ${child.pid ?? '?'}) serving ${url}`);
    return { url, pid: child.pid ?? -1, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The first stdout line: `{"port": N, "caFile": "<path>"}` (or `caPem` inline). */
function readyLine(child: ChildProcess, timeoutMs: number, tail: () => string): Promise<Ready> {
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`conversion webhook did not report its port within ${timeoutMs} ms:\n${tail()}`));
    }, timeoutMs);
    const fail = (why: string) => {
      clearTimeout(timer);
      reject(new Error(`conversion webhook ${why}:\n${tail()}`));
    };
    child.once('exit', (code, signal) => fail(`exited (${signal ?? String(code)}) before it listened`));
    child.once('error', (err) => fail(`did not start: ${err.message}`));
    if (!child.stdout) return fail('has no stdout');
    createInterface({ input: child.stdout }).once('line', (line) => {
      clearTimeout(timer);
      try {
        const parsed = JSON.parse(line) as { port?: unknown; caFile?: unknown; caPem?: unknown };
        if (typeof parsed.port !== 'number') throw new Error('no port');
        const caPem =
          typeof parsed.caPem === 'string'
            ? parsed.caPem
            : typeof parsed.caFile === 'string'
              ? readFileSync(parsed.caFile, 'utf8')
              : undefined;
        if (!caPem) throw new Error('no CA');
        resolvePromise({ port: parsed.port, caPem });
      } catch (err) {
        reject(new Error(`conversion webhook's first line is not its address (${String(err)}): ${line}`));
      }
    });
  });
}

/**
 * Merge-patches each CRD's conversion to the URL and CA. `service: null` removes the Service
 * reference the rendered CRDs carry (a clientConfig names exactly one of url and service).
 */
async function pointCrdsAt(kubeconfigPath: string, url: string, caPem: string): Promise<void> {
  const patch = JSON.stringify({
    spec: {
      conversion: {
        strategy: 'Webhook',
        webhook: {
          conversionReviewVersions: ['v1'],
          clientConfig: { url, caBundle: Buffer.from(caPem).toString('base64'), service: null },
        },
      },
    },
  });
  const kubectl = clusterBinary('kubectl');
  for (const name of SANDBANK_CRD_NAMES) {
    await run(kubectl, [
      `--kubeconfig=${kubeconfigPath}`,
      'patch',
      'customresourcedefinition',
      name,
      '--type=merge',
      '-p',
      patch,
    ]);
  }
}

const PROBE_NAMESPACE = 'default';
const PROBE_NAME = 'sandbank-conversion-probe';

/**
 * Writes a v1beta1 SandboxTemplate and reads it as v1alpha1 until that works: the API server
 * loads a CRD's new conversion settings a moment after the patch.
 */
async function waitForConversion(kubeconfigPath: string, timeoutMs: number): Promise<void> {
  const kubectl = clusterBinary('kubectl');
  const base = [`--kubeconfig=${kubeconfigPath}`, '-n', PROBE_NAMESPACE];
  const dir = mkdtempSync(join(tmpdir(), 'sandbank-conversion-probe-'));
  const file = join(dir, 'probe.json');
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: 'extensions.agents.x-k8s.io/v1beta1',
      kind: 'SandboxTemplate',
      metadata: { name: PROBE_NAME },
      spec: {
        networkPolicyManagement: 'Unmanaged',
        podTemplate: { spec: { containers: [{ name: 'c', image: 'none' }] } },
      },
    }),
  );
  const deadline = Date.now() + timeoutMs;
  let last = '';
  try {
    await run(kubectl, [...base, 'apply', '--server-side', '--field-manager=sandbank-e2e', '-f', file]);
    for (;;) {
      try {
        await run(kubectl, [
          ...base,
          'get',
          `sandboxtemplates.v1alpha1.extensions.agents.x-k8s.io/${PROBE_NAME}`,
        ]);
        return;
      } catch (err) {
        last = String(err);
      }
      if (Date.now() > deadline)
        throw new Error(`v1alpha1 reads do not convert after ${timeoutMs} ms: ${last}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await run(kubectl, [...base, 'delete', '--ignore-not-found', 'sandboxtemplate', PROBE_NAME]).catch(
      () => undefined,
    );
    rmSync(dir, { recursive: true, force: true });
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.stdin?.end();
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}
