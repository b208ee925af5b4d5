/**
 * Measurements shared by tests and benchmarks: timed Exec calls against an agent wherever it runs
 * (native or under runsc), and memory of processes read from /proc.
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

/** Peak (VmHWM) and current (VmRSS) resident memory of one process, in bytes. */
export function memoryOf(pid: number): { peak: number; current: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const bytes = (field: string): number => {
    const kb = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1];
    if (kb === undefined) throw new Error(`no ${field} for pid ${pid}`);
    return Number(kb) * 1024;
  };
  return { peak: bytes('VmHWM'), current: bytes('VmRSS') };
}
