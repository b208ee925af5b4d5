// The cluster's own kubectl (built with the control plane), as the suites' way to do what a user
// does: apply YAML, scale, delete pods, exec, port-forward.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { clusterBinary } from './paths.js';

export interface KubectlOptions {
  /** Written to kubectl's stdin (e.g. YAML for `apply -f -`). */
  input?: string;
  /** Kill kubectl after this long (default 120 s). */
  timeoutMs?: number;
}

export type Kubectl = (args: readonly string[], opts?: KubectlOptions) => Promise<string>;

/** A kubectl bound to one kubeconfig; resolves with stdout, rejects with stderr on failure. */
export function kubectlFor(kubeconfigPath: string): Kubectl {
  return (args, opts = {}) =>
    new Promise((resolvePromise, reject) => {
      const child = spawn(clusterBinary('kubectl'), ['--kubeconfig', kubeconfigPath, ...args], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (code === 0) resolvePromise(stdout);
        else
          reject(
            new Error(`kubectl ${args.join(' ')}: ${signal ?? `exit ${String(code)}`}: ${stderr.trim()}`),
          );
      });
      child.stdin.end(opts.input ?? '');
    });
}

export interface PortForward {
  /** The local port on 127.0.0.1. */
  localPort: number;
  close(): void;
}

/**
 * `kubectl port-forward <target> :<remotePort>` (what the Python client's dev mode does), on a
 * free local port; resolves once kubectl listens.
 */
export function portForward(
  kubeconfigPath: string,
  namespace: string,
  target: string,
  remotePort: number,
  timeoutMs = 30_000,
): Promise<PortForward> {
  return new Promise((resolvePromise, reject) => {
    const child: ChildProcess = spawn(
      clusterBinary('kubectl'),
      [
        '--kubeconfig',
        kubeconfigPath,
        '-n',
        namespace,
        'port-forward',
        '--address',
        '127.0.0.1',
        target,
        `:${remotePort}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`port-forward ${target} did not start in ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`port-forward ${target} exited (${String(code)}): ${stderr}`));
    });
    if (!child.stdout) return;
    createInterface({ input: child.stdout }).on('line', (line) => {
      // "Forwarding from 127.0.0.1:41234 -> 8080"
      const m = /^Forwarding from 127\.0\.0\.1:(\d+) ->/.exec(line);
      if (!m?.[1]) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      resolvePromise({ localPort: Number(m[1]), close: () => child.kill() });
    });
  });
}
