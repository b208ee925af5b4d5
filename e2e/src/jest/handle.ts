// The control plane and conversion webhook started by global-setup.ts, kept for
// global-teardown.ts (both run in Jest's main process, so they share globalThis).
import type { ControlPlane } from '../cluster/control-plane.js';
import type { ConversionWebhook } from '../cluster/conversion-webhook.js';

const key = Symbol.for('sandbank.e2e.controlPlane');
const webhookKey = Symbol.for('sandbank.e2e.conversionWebhook');
type Holder = { [key]?: ControlPlane | undefined; [webhookKey]?: ConversionWebhook | undefined };

export function setControlPlane(cp: ControlPlane | undefined): void {
  (globalThis as Holder)[key] = cp;
}

export function takeControlPlane(): ControlPlane | undefined {
  const cp = (globalThis as Holder)[key];
  (globalThis as Holder)[key] = undefined;
  return cp;
}

export function setConversionWebhook(webhook: ConversionWebhook | undefined): void {
  (globalThis as Holder)[webhookKey] = webhook;
}

export function takeConversionWebhook(): ConversionWebhook | undefined {
  const webhook = (globalThis as Holder)[webhookKey];
  (globalThis as Holder)[webhookKey] = undefined;
  return webhook;
}
