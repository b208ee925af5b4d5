/**
 * Conversion of Sandbank's objects between v1alpha1 and v1beta1 (what the controller's webhook
 * answers ConversionReviews with). Pure and total: works on loose JSON — objects stored under
 * older schemas, missing defaults — and never throws. A failure here would fail every LIST and
 * WATCH of the kind, so only a request we cannot understand (not an object, an unknown
 * group/version/kind) is refused; a damaged annotation is ignored and reported in `warnings`.
 *
 * Metadata is copied except for our two conversion annotations (ownerReferences are never
 * rewritten: garbage collection and controllers match owners by kind and uid), and so are status
 * and every field this module does not know.
 */
import { isRecord, type JsonObject } from './annotations.js';
import { claimToAlpha, claimToBeta } from './claim.js';
import { poolToAlpha, poolToBeta } from './pool.js';
import { sandboxToAlpha, sandboxToBeta } from './sandbox.js';
import { templateToAlpha, templateToBeta } from './template.js';

export { ConversionAnnotations } from './annotations.js';
export { recoverAlphaClaimFields, isPolicyWord, type AlphaClaimFields } from './claim.js';

export type ConversionResult =
  { ok: true; object: JsonObject; warnings: string[] } | { ok: false; message: string };

type Converter = (obj: JsonObject, warnings: string[]) => JsonObject;

const VERSIONS = ['v1alpha1', 'v1beta1'] as const;
type Version = (typeof VERSIONS)[number];

/** Kinds per group, with their converters towards each version. */
const KINDS: Readonly<Record<string, Readonly<Record<string, Record<Version, Converter>>>>> = {
  'agents.x-k8s.io': {
    Sandbox: { v1alpha1: sandboxToAlpha, v1beta1: sandboxToBeta },
  },
  'extensions.agents.x-k8s.io': {
    SandboxTemplate: { v1alpha1: templateToAlpha, v1beta1: templateToBeta },
    SandboxWarmPool: { v1alpha1: poolToAlpha, v1beta1: poolToBeta },
    SandboxClaim: { v1alpha1: claimToAlpha, v1beta1: claimToBeta },
  },
};

function splitApiVersion(apiVersion: string): { group: string; version: string } | undefined {
  const slash = apiVersion.indexOf('/');
  if (slash <= 0 || slash !== apiVersion.lastIndexOf('/')) return undefined;
  return { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

function isVersion(version: string): version is Version {
  return (VERSIONS as readonly string[]).includes(version);
}

/**
 * `obj` as `desiredApiVersion` (`<group>/v1alpha1` or `<group>/v1beta1` of the object's own
 * group). The same version comes back unchanged (only `apiVersion` set).
 */
export function convertObject(obj: unknown, desiredApiVersion: string): ConversionResult {
  if (!isRecord(obj)) return { ok: false, message: 'object: not a JSON object' };
  const { apiVersion, kind } = obj;
  if (typeof apiVersion !== 'string') return { ok: false, message: 'object.apiVersion: missing' };
  if (typeof kind !== 'string') return { ok: false, message: 'object.kind: missing' };
  const from = splitApiVersion(apiVersion);
  const to = splitApiVersion(desiredApiVersion);
  if (!to)
    return {
      ok: false,
      message: `desiredAPIVersion ${JSON.stringify(desiredApiVersion)}: not group/version`,
    };
  if (!from)
    return { ok: false, message: `object.apiVersion ${JSON.stringify(apiVersion)}: not group/version` };
  const kinds = KINDS[from.group];
  if (!kinds) return { ok: false, message: `object.apiVersion ${apiVersion}: unknown group ${from.group}` };
  if (to.group !== from.group) {
    return {
      ok: false,
      message: `desiredAPIVersion ${desiredApiVersion}: not the object's group ${from.group}`,
    };
  }
  const converters = Object.hasOwn(kinds, kind) ? kinds[kind] : undefined;
  if (!converters) return { ok: false, message: `object.kind ${kind}: not a kind of ${from.group}` };
  if (!isVersion(from.version)) {
    return { ok: false, message: `object.apiVersion ${apiVersion}: unknown version ${from.version}` };
  }
  if (!isVersion(to.version)) {
    return { ok: false, message: `desiredAPIVersion ${desiredApiVersion}: unknown version ${to.version}` };
  }
  const warnings: string[] = [];
  try {
    const converted = from.version === to.version ? obj : converters[to.version](obj, warnings);
    return { ok: true, object: { ...converted, apiVersion: desiredApiVersion }, warnings };
  } catch (error) {
    // Not expected (the converters only read JSON); kept so a bug answers one object, not the process.
    return { ok: false, message: `${kind} ${apiVersion} → ${desiredApiVersion}: ${String(error)}` };
  }
}
