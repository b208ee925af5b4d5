/**
 * The options of `Sandbox.create`, `attach` and `list`, parsed (zod): a JavaScript caller's typo
 * or wrong type is a ConfigurationError naming the field, before anything is asked of a cluster.
 */
import { z } from 'zod';
import { ConfigurationError } from './client-errors.js';

/** A Kubernetes object name (DNS-1123 subdomain). */
const Name = z
  .string()
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, 'must be a DNS-1123 name');
/** A namespace (DNS-1123 label). */
const Namespace = z
  .string()
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS-1123 label');
const Milliseconds = z.number().positive();
const Text = z.string().min(1);

const KubeFields = {
  kubeconfig: Text.optional(),
  context: Text.optional(),
  namespace: Namespace.optional(),
  signal: z.instanceof(AbortSignal).optional(),
};

const ConnectFields = {
  ...KubeFields,
  timeoutMs: Milliseconds.optional(),
  routerUrl: Text.optional(),
  gatewayName: Name.optional(),
  gatewayNamespace: Namespace.optional(),
  gatewayScheme: z.enum(['https', 'http']).optional(),
  gatewayTimeoutMs: Milliseconds.optional(),
  routerNamespace: Namespace.optional(),
  token: Text.optional(),
  caFile: Text.optional(),
  allowInsecure: z.boolean().optional(),
};

export const ListOptionsSchema = z.strictObject(KubeFields);
export const ConnectOptionsSchema = z.strictObject(ConnectFields);
export const CreateOptionsSchema = z.strictObject({
  ...ConnectFields,
  template: Name.optional(),
  pool: Name.optional(),
  env: z.record(z.string().min(1), z.string()).optional(),
  labels: z.record(z.string().min(1), z.string()).optional(),
  shutdownAfterSeconds: z.number().positive().optional(),
  name: Name.optional(),
});

/** `value` as `schema` reads it; the first problem as a ConfigurationError that names its field. */
export function parseOptions<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const keys = issue?.code === 'unrecognized_keys' ? issue.keys.join(', ') : '';
  const field = keys || issue?.path.join('.') || 'options';
  throw new ConfigurationError(`${field}: ${issue?.message ?? 'invalid'}`);
}
