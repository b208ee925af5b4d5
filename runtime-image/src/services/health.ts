/**
 * grpc.health.v1.Health: SERVING while the agent takes work, NOT_SERVING once it drains.
 * Service names: "" (the whole agent) and the two agent services; any other name is NOT_FOUND
 * for Check and SERVICE_UNKNOWN for Watch, as the health protocol says.
 */
import { status } from '@grpc/grpc-js';
import { HealthCheckResponse_ServingStatus as Serving } from '@sandbank/proto';
import type { HealthServiceHandlers } from '@sandbank/proto';

export const HEALTH_SERVICES = [
  '',
  'sandbank.agent.v1.ExecService',
  'sandbank.agent.v1.FileService',
] as const;

/** The agent's serving state; `main` flips it on SIGTERM, Watch streams follow it. */
export class HealthState {
  private serving = true;
  private readonly listeners = new Set<(serving: boolean) => void>();

  get isServing(): boolean {
    return this.serving;
  }

  /** Marks the agent as draining: probes fail, so no new traffic is routed here. */
  setNotServing(): void {
    if (!this.serving) return;
    this.serving = false;
    for (const listener of this.listeners) listener(false);
  }

  subscribe(listener: (serving: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

const known = (service: string): boolean => (HEALTH_SERVICES as readonly string[]).includes(service);

export function healthHandlers(state: HealthState): HealthServiceHandlers {
  const current = (): Serving => (state.isServing ? Serving.SERVING : Serving.NOT_SERVING);
  return {
    check(call, callback) {
      if (!known(call.request.service)) {
        callback({ code: status.NOT_FOUND, details: `unknown service '${call.request.service}'` });
        return;
      }
      callback(null, { status: current() });
    },
    list(_call, callback) {
      callback(null, {
        statuses: Object.fromEntries(HEALTH_SERVICES.map((s) => [s, { status: current() }])),
      });
    },
    watch(call) {
      if (!known(call.request.service)) {
        // The protocol: report SERVICE_UNKNOWN and keep the stream open (the service may appear).
        call.write({ status: Serving.SERVICE_UNKNOWN });
        return;
      }
      call.write({ status: current() });
      const unsubscribe = state.subscribe(() => call.write({ status: current() }));
      call.once('cancelled', unsubscribe);
    },
  };
}
