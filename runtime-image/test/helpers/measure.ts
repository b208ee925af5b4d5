/**
 * Measurements shared by the agent's benchmarks (bench/benchmarks/agent-*.bench.ts): timed Exec
 * calls and memory of processes, against an agent wherever it runs (native or under runsc).
 */
import { readFileSync } from 'node:fs';
import type { AgentClient, ExecResponse } from '@sandbank/proto';

export interface ExecTiming {
  /** Milliseconds from sending the start frame to the end of the call. */
  readonly ms: number;
  /** stdout bytes received. */
  readonly bytes: number;
  readonly exitCode: number;
}

/** Runs `args` through Exec once and times it end to end, reading stdout as fast as it comes. */
export function timedExec(client: AgentClient, args: string[]): Promise<ExecTiming> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    let bytes = 0;
    let exitCode = -1;
    const call = client.exec();
    call.on('data', (f: ExecResponse) => {
      if (f.event.case === 'stdout') bytes += f.event.value.byteLength;
      else if (f.event.case === 'exit') exitCode = f.event.value.exitCode;
    });
    call.on('error', reject);
    call.on('end', () => resolve({ ms: performance.now() - start, bytes, exitCode }));
    call.write({
      frame: { case: 'start', value: { process: { command: { case: 'argv', value: { args } } } } },
    });
    call.end();
  });
}

/** Resident (VmRSS) and proportional (Pss) memory of processes, summed, in MiB. */
export function memoryMiB(pids: readonly number[]): { rss: number; pss: number } {
  let rss = 0;
  let pss = 0;
  for (const pid of pids) {
    try {
      const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      rss += Number(/^Rss:\s+(\d+) kB/m.exec(rollup)?.[1] ?? 0);
      pss += Number(/^Pss:\s+(\d+) kB/m.exec(rollup)?.[1] ?? 0);
    } catch {
      // The process exited meanwhile.
    }
  }
  return { rss: rss / 1024, pss: pss / 1024 };
}
