// The conversion webhook for a control plane on loopback (the jest integration run, the
// benchmarks' and the dev CLI's control planes): the CRDs store v1beta1 and serve v1alpha1, so
// every v1alpha1 request goes through it. It runs as its own process (the controller's
// `webhook/standalone.ts`, exiting with its parent), serves on 127.0.0.1 and points the CRDs at
// itself by URL with its CA: a control plane without cluster networking cannot reach a Service.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { clusterBinary, repoRoot } from './paths.js';
import { run } from './process.js';

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
  readonly url: string;
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
    [
      '--conditions=source',
      '--import',
      'tsx',
      join(repoRoot, 'controller/src/webhook/standalone.ts'),
      `--dir=${dir}`,
      // It points the CRDs at itself, and repairs them every 5 minutes.
      `--kubeconfig=${kubeconfigPath}`,
    ],
    // It exits by itself once reparented (this process died).
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
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
    const url = (await readyLine(child, timeoutMs, () => stderr.join('\n'))).url;
    await waitForConversion(kubeconfigPath, timeoutMs);
    opts.onProgress?.(`[sandbank] conversion webhook (pid ${child.pid ?? '?'}) serving ${url}`);
    return { url, pid: child.pid ?? -1, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Its address line on stdout: `{"pid", "port", "url", "caFile"}` (log lines are skipped). */
function readyLine(child: ChildProcess, timeoutMs: number, tail: () => string): Promise<Ready> {
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`conversion webhook did not report its address within ${timeoutMs} ms:\n${tail()}`));
    }, timeoutMs);
    const fail = (why: string) => {
      clearTimeout(timer);
      reject(new Error(`conversion webhook ${why}:\n${tail()}`));
    };
    child.once('exit', (code, signal) => fail(`exited (${signal ?? String(code)}) before it served`));
    child.once('error', (err) => fail(`did not start: ${err.message}`));
    if (!child.stdout) return fail('has no stdout');
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const address = parseAddress(line);
      if (!address) return;
      clearTimeout(timer);
      lines.close();
      resolvePromise(address);
    });
  });
}

function parseAddress(line: string): Ready | undefined {
  try {
    const parsed = JSON.parse(line) as { port?: unknown; url?: unknown };
    return typeof parsed.port === 'number' && typeof parsed.url === 'string'
      ? { port: parsed.port, url: parsed.url }
      : undefined;
  } catch {
    return undefined;
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
