/**
 * `make bench`: runs every bench/benchmarks/*.bench.ts (or those whose file name contains
 * `--filter X`), writes one JSON per result into bench/results/ (or `--out DIR`) and prints a
 * summary table. A real control plane is started once if any selected benchmark needs one.
 * Benchmarks on the local one-node cluster run only with `--local-cluster` (`make
 * bench-cluster`): it needs root and owns the machine's one cluster. That cluster is brought up
 * with Sandbank as `make up` does and taken down (checked clean) afterwards, unless it already
 * ran, in which case it is used and left running.
 */
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  applyManifests,
  crdManifests,
  defaultClusterStateDir,
  startControlPlane,
  startConversionWebhook,
  startLocalCluster,
  stopLocalCluster,
  verifyClean,
  type ControlPlane,
  type ConversionWebhook,
  type LocalCluster,
} from '@sandbank/e2e';
import type { Benchmark } from './benchmark.js';
import { buildResult, writeResult } from './result.js';

const benchRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const log = (line: string): void => void process.stderr.write(`[bench] ${line}\n`);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      filter: { type: 'string' },
      out: { type: 'string', default: join(benchRoot, 'results') },
      'local-cluster': { type: 'boolean', default: false },
    },
  });
  const files = readdirSync(join(benchRoot, 'benchmarks'))
    .filter((f) => f.endsWith('.bench.ts') && (!values.filter || f.includes(values.filter)))
    .sort();
  if (files.length === 0) throw new Error(`no benchmark matches --filter ${values.filter ?? ''}`);

  const benchmarks: Benchmark[] = [];
  for (const file of files) {
    const mod = (await import(pathToFileURL(join(benchRoot, 'benchmarks', file)).href)) as {
      default: Benchmark;
    };
    if (mod.default.needs === 'local-cluster' && !values['local-cluster']) {
      log(`skipping ${file}: it needs the local cluster (--local-cluster, make bench-cluster)`);
      continue;
    }
    benchmarks.push(mod.default);
  }
  if (benchmarks.length === 0) throw new Error('every selected benchmark needs --local-cluster');

  let controlPlane: ControlPlane | undefined;
  let webhook: ConversionWebhook | undefined;
  let cluster: LocalCluster | undefined;
  try {
    if (benchmarks.some((b) => b.needs === 'control-plane')) {
      controlPlane = await startControlPlane({ onProgress: log });
      await applyManifests(controlPlane.kubeconfigPath, crdManifests(), { onProgress: log });
      // v1alpha1 requests (template claims) go through the conversion webhook; v1beta1 ones do not.
      webhook = await startConversionWebhook(controlPlane.kubeconfigPath, { onProgress: log });
    }
    if (benchmarks.some((b) => b.needs === 'local-cluster')) {
      const stateDir = defaultClusterStateDir();
      const ranBefore = existsSync(join(stateDir, '.sandbank-cluster'));
      cluster = await startLocalCluster({ stateDir, withSandbank: true, onProgress: log }).catch(
        async (error: unknown) => {
          // a half-started cluster of our own is stopped; one that ran before is left to its owner
          if (!ranBefore) {
            await stopLocalCluster(stateDir, log).catch(() => undefined);
            await verifyClean(stateDir).then(log, (e: unknown) => log(String(e)));
          }
          throw error;
        },
      );
      log(`local cluster ${cluster.reused ? 'reused (left running)' : 'started'}: ${cluster.stateDir}`);
    }
    const rows: string[] = [];
    for (const benchmark of benchmarks) {
      log(`running ${benchmark.title}`);
      const inputs = await benchmark.run({
        log,
        ...(controlPlane ? { kubeconfigPath: controlPlane.kubeconfigPath } : {}),
        ...(cluster
          ? { localCluster: { kubeconfigPath: cluster.kubeconfigPath, stateDir: cluster.stateDir } }
          : {}),
      });
      for (const input of inputs) {
        const result = buildResult(input);
        const path = writeResult(result, values.out);
        const target = result.target
          ? ` target ${result.target.value} ${result.target.met ? 'met' : 'MISSED'}`
          : '';
        rows.push(
          `${result.name.padEnd(36)} p50 ${fmt(result.p50)} p95 ${fmt(result.p95)} p99 ${fmt(result.p99)} ${result.unit} (n=${result.n})${target}`,
        );
        log(`wrote ${path}`);
      }
    }
    process.stdout.write(`${rows.join('\n')}\n`);
  } finally {
    await webhook?.stop();
    await controlPlane?.stop();
    if (cluster && !cluster.reused) {
      await cluster.stop();
      log(await verifyClean(cluster.stateDir));
    }
  }
}

function fmt(v: number): string {
  return v.toFixed(v < 10 ? 2 : 1).padStart(8);
}

main().catch((error: unknown) => {
  log(`failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
