// The control plane started by global-setup.ts, kept for global-teardown.ts (both run in Jest's
// main process, so they share globalThis).
import type { ControlPlane } from '../cluster/control-plane.js';

const key = Symbol.for('sandbank.e2e.controlPlane');
type Holder = { [key]?: ControlPlane | undefined };

export function setControlPlane(cp: ControlPlane | undefined): void {
  (globalThis as Holder)[key] = cp;
}

export function takeControlPlane(): ControlPlane | undefined {
  const cp = (globalThis as Holder)[key];
  (globalThis as Holder)[key] = undefined;
  return cp;
}
