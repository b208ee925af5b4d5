/**
 * One gRPC channel per agent endpoint, reused by every request to that pod, with keepalive so a
 * dead pod is noticed between requests. `connect` dials (or reuses a READY channel) within a
 * short connect timeout and fails fast when the dial fails; the caller may then re-resolve and
 * retry, since nothing has been sent. A channel unused for `idleMs` is closed.
 */
import { connectivityState, credentials } from '@grpc/grpc-js';
import type { ClientOptions } from '@grpc/grpc-js';
import { createAgentClient, createAgentPromiseClient } from '@sandbank/proto';
import type { AgentClient, AgentPromiseClient } from '@sandbank/proto';
import { MAX_BUFFERED_OUTPUT_BYTES } from '../exec-spec.js';

/**
 * The largest agent message the router takes: a Run reply at the hard maximum of buffered output
 * (two streams) and 1 MiB for the rest. The agent is inside the sandbox; without this bound one
 * reply it chose to make huge would be allocated whole. Streams (Exec, ReadFile) come in chunks
 * far below it; a ListDir larger than it fails RESOURCE_EXHAUSTED.
 */
export const MAX_AGENT_MESSAGE_BYTES = 2 * MAX_BUFFERED_OUTPUT_BYTES + 1024 * 1024;

export interface AgentPoolOptions {
  readonly grpcPort: number;
  /**
   * Channels idle this long are closed. 5 minutes: long enough that an interactive session keeps
   * its connection, short enough that churned sandboxes do not pile up sockets.
   */
  readonly idleMs?: number;
  /** Largest agent message accepted; default MAX_AGENT_MESSAGE_BYTES. */
  readonly maxReceiveBytes?: number;
  readonly channelOptions?: ClientOptions;
}

interface Entry {
  readonly client: AgentClient;
  readonly agent: AgentPromiseClient;
  lastUsed: number;
  /** Calls in progress; an entry in use is never swept. */
  active: number;
}

/** A channel held for one request; `release()` exactly once when the request is over. */
export interface AgentLease {
  readonly client: AgentClient;
  /** The same channel's rpcs as promises and async iterables. */
  readonly agent: AgentPromiseClient;
  /** A detached callback: safe to pass around without its lease. */
  readonly release: () => void;
}

export class AgentPool {
  private readonly entries = new Map<string, Entry>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly options: ClientOptions;

  constructor(private readonly opts: AgentPoolOptions) {
    const idleMs = opts.idleMs ?? 300_000;
    this.options = {
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
      'grpc.keepalive_permit_without_calls': 0,
      'grpc.max_receive_message_length': opts.maxReceiveBytes ?? MAX_AGENT_MESSAGE_BYTES,
      'grpc.max_send_message_length': 16 * 1024 * 1024,
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 2_000,
      ...opts.channelOptions,
    };
    this.sweeper = setInterval(() => this.sweep(idleMs), Math.min(idleMs, 60_000));
    this.sweeper.unref();
  }

  address(ip: string): string {
    return ip.includes(':') ? `[${ip}]:${this.opts.grpcPort}` : `${ip}:${this.opts.grpcPort}`;
  }

  /** The channel to `ip`, dialled if needed; rejects when it cannot connect within `timeoutMs`. */
  async connect(ip: string, timeoutMs: number, signal?: AbortSignal): Promise<AgentLease> {
    const address = this.address(ip);
    let entry = this.entries.get(address);
    if (!entry) {
      const client = createAgentClient(address, credentials.createInsecure(), this.options);
      entry = { client, agent: createAgentPromiseClient(client), lastUsed: 0, active: 0 };
      this.entries.set(address, entry);
    }
    entry.lastUsed = Date.now();
    const channel = entry.client.getChannel();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const state = channel.getConnectivityState(true);
      if (state === connectivityState.READY) return this.lease(entry);
      if (state === connectivityState.TRANSIENT_FAILURE || state === connectivityState.SHUTDOWN) {
        this.evict(address);
        throw new Error(`could not connect to ${address}`);
      }
      if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
      const changed = await new Promise<boolean>((resolve) => {
        channel.watchConnectivityState(state, deadline, (error) => resolve(error === undefined));
      });
      if (!changed) {
        this.evict(address);
        throw new Error(`no connection to ${address} within ${timeoutMs} ms`);
      }
    }
  }

  private lease(entry: Entry): AgentLease {
    entry.active++;
    let released = false;
    return {
      client: entry.client,
      agent: entry.agent,
      release: () => {
        if (released) return;
        released = true;
        entry.active--;
        entry.lastUsed = Date.now();
      },
    };
  }

  /** Drops the channel to `ip` (after a dial failure) so the next call dials afresh. */
  evictIp(ip: string): void {
    this.evict(this.address(ip));
  }

  get size(): number {
    return this.entries.size;
  }

  close(): void {
    clearInterval(this.sweeper);
    for (const entry of this.entries.values()) entry.client.close();
    this.entries.clear();
  }

  private evict(address: string): void {
    const entry = this.entries.get(address);
    if (!entry) return;
    this.entries.delete(address);
    entry.client.close();
  }

  private sweep(idleMs: number): void {
    const cutoff = Date.now() - idleMs;
    for (const [address, entry] of this.entries)
      if (entry.active === 0 && entry.lastUsed < cutoff) this.evict(address);
  }
}
