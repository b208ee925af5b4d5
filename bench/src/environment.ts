/** Where a benchmark ran, recorded with every result so numbers are never compared blind. */
import { execFileSync } from 'node:child_process';
import { cpus, totalmem, type as osType, release } from 'node:os';

export interface BenchEnvironment {
  readonly node: string;
  readonly os: string;
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly commit: string;
  readonly ci: boolean;
}

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return 'unknown';
  }
}

export function benchEnvironment(): BenchEnvironment {
  const cpuList = cpus();
  return {
    node: process.version,
    os: `${osType()} ${release()}`,
    cpu: cpuList[0]?.model ?? 'unknown',
    cores: cpuList.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    commit: gitCommit(),
    ci: process.env['CI'] === 'true',
  };
}
