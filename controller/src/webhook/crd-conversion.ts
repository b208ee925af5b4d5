/**
 * Points the CRDs' conversion at this webhook: `spec.conversion.webhook.clientConfig` (the
 * Service, or a URL for control planes without cluster networking) and its `caBundle`. The
 * rendered CRDs carry no caBundle, so a `kubectl apply` of them never blanks ours; a CRD
 * re-applied with another clientConfig is repaired on the next round (every 5 minutes).
 *
 * A CRD that serves one version is left alone (logged): the API server never converts it, and
 * today's single-version CRDs must not depend on a webhook being reachable.
 */
import { CUSTOM_RESOURCE_DEFINITIONS, isKubeError } from '@sandbank/kube';
import type { KubeClient } from '@sandbank/kube';
import { readCrd, SANDBANK_CRDS, type Crd } from '../crds.js';
import type { Logger } from '../observability/logger.js';

export const CRD_REPAIR_INTERVAL_MS = 5 * 60_000;

export type WebhookTarget =
  | {
      readonly service: {
        readonly namespace: string;
        readonly name: string;
        readonly port: number;
        readonly path: string;
      };
    }
  | { readonly url: string };

export interface CrdConversionOptions {
  readonly target: WebhookTarget;
  /** PEM of the CA that signed the serving certificate; undefined: leave caBundle to others (cert-manager's cainjector). */
  readonly caPem: string | undefined;
  readonly crds?: readonly string[];
  readonly log?: Logger;
}

export type CrdConversionResult = 'patched' | 'unchanged' | 'single-version' | 'missing';

/** The merge patch that makes `crd` convert through `target`, or undefined when it already does. */
export function conversionPatch(
  crd: Crd,
  target: WebhookTarget,
  caBundle: string | undefined,
): Record<string, unknown> | undefined {
  const conversion = crd.spec.conversion;
  const config = conversion?.webhook?.clientConfig;
  const serviceOk =
    'service' in target
      ? config?.url === undefined &&
        config?.service?.namespace === target.service.namespace &&
        config.service.name === target.service.name &&
        (config.service.port ?? 443) === target.service.port &&
        config.service.path === target.service.path
      : config?.service === undefined && config?.url === target.url;
  const upToDate =
    conversion?.strategy === 'Webhook' &&
    (conversion.webhook?.conversionReviewVersions ?? []).includes('v1') &&
    serviceOk &&
    (caBundle === undefined || config?.caBundle === caBundle);
  if (upToDate) return undefined;
  const clientConfig: Record<string, unknown> =
    'service' in target ? { service: { ...target.service }, url: null } : { url: target.url, service: null };
  if (caBundle !== undefined) clientConfig['caBundle'] = caBundle;
  return {
    spec: {
      conversion: {
        strategy: 'Webhook',
        webhook: { conversionReviewVersions: ['v1'], clientConfig },
      },
    },
  };
}

/**
 * One round over the CRDs. A CRD changed since it was read (409) is retried in the same round;
 * other failures throw, naming the CRD (the caller logs them and tries again next round).
 */
export async function ensureCrdConversion(
  client: KubeClient,
  opts: CrdConversionOptions,
): Promise<Record<string, CrdConversionResult>> {
  const caBundle = opts.caPem === undefined ? undefined : Buffer.from(opts.caPem, 'utf8').toString('base64');
  const results: Record<string, CrdConversionResult> = {};
  for (const name of opts.crds ?? SANDBANK_CRDS) {
    results[name] = await ensureOne(client, name, opts.target, caBundle, opts.log);
  }
  return results;
}

async function ensureOne(
  client: KubeClient,
  name: string,
  target: WebhookTarget,
  caBundle: string | undefined,
  log: Logger | undefined,
): Promise<CrdConversionResult> {
  for (let attempt = 1; ; attempt++) {
    const crd = await readCrd(client, name);
    if (crd === undefined) {
      log?.warn({ crd: name }, 'CRD not found; its conversion webhook is not configured');
      return 'missing';
    }
    const served = crd.spec.versions.filter((v) => v.served).map((v) => v.name);
    if (served.length < 2) {
      log?.debug({ crd: name, served }, 'CRD serves one version; no conversion webhook needed');
      return 'single-version';
    }
    const patch = conversionPatch(crd, target, caBundle);
    if (patch === undefined) return 'unchanged';
    try {
      await client.mergePatch(CUSTOM_RESOURCE_DEFINITIONS, '', name, patch, {
        resourceVersion: crd.metadata.resourceVersion,
      });
      log?.info({ crd: name, target, served }, 'CRD conversion webhook configured');
      return 'patched';
    } catch (error) {
      if (!isKubeError(error, 'Conflict') || attempt >= 5) {
        throw new Error(`CRD ${name}: cannot set its conversion webhook: ${String(error)}`);
      }
    }
  }
}

/**
 * Runs `round` every `intervalMs` until stopped (the first after one interval: callers run the
 * first round themselves, where a failure may stop the start); a failed round is logged and the
 * next one tries again. Rounds never overlap.
 */
export function repeatEvery(
  intervalMs: number,
  round: () => Promise<void>,
  log: Logger,
  what: string,
): { stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const run = (): void => {
    round()
      .catch((err: unknown) =>
        log.error({ err }, `${what} failed; retrying in ${Math.round(intervalMs / 1000)} s`),
      )
      .finally(() => {
        if (!stopped) timer = setTimeout(run, intervalMs).unref();
      });
  };
  timer = setTimeout(run, intervalMs).unref();
  return {
    stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}
