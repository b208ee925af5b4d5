/** ProcessService helpers shared by the background-process tests (loopback and gVisor). */
import { ProcessState, Signal } from '@sandbank/proto';
import type { AgentPromiseClient } from '@sandbank/proto';
import { eventually } from './calls.js';

/** Kills what still runs and removes every process, so each test starts with none. */
export async function removeEveryProcess(api: AgentPromiseClient): Promise<void> {
  for (const p of (await api.listProcesses({})).processes) {
    if (p.state === ProcessState.RUNNING) {
      await api.signalProcess({ id: p.id, signal: Signal.KILL });
      await api.waitProcess({ id: p.id });
    }
    await api.removeProcess({ id: p.id });
  }
}

/**
 * Every byte retained for `id` from offset 0 (no follow), and the streams its chunks carried.
 * Fails the test if a chunk does not start where the one before ended (a drop or a repeat).
 */
export async function retained(
  api: AgentPromiseClient,
  id: string,
): Promise<{ text: string; streams: Set<number> }> {
  let text = '';
  const streams = new Set<number>();
  let next = 0n;
  for await (const frame of api.attachProcess({ id, fromOffset: 0n, follow: false })) {
    if (frame.event.case === 'output') {
      if (frame.event.value.offset !== next) {
        throw new Error(`chunk at offset ${frame.event.value.offset}, expected ${next}`);
      }
      next += BigInt(frame.event.value.data.length);
      text += Buffer.from(frame.event.value.data).toString();
      streams.add(frame.event.value.stream);
    }
  }
  return { text, streams };
}

/**
 * Polls what is retained for `id` until `pattern` matches its text. A terminal echoes keystrokes
 * as they arrive, possibly before the shell's prompt, so patterns should match what only the
 * program's output has (`echo o""ne` prints `one`; its echo shows the quotes), never a line start.
 */
export const retainedMatching = (api: AgentPromiseClient, id: string, pattern: RegExp, timeoutMs: number) =>
  eventually(async () => {
    const r = await retained(api, id);
    return pattern.test(r.text) ? r : undefined;
  }, timeoutMs);
