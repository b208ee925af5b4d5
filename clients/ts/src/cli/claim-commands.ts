/** `claims`, `create`, `delete` and `ports`: the claims of a namespace, and the ports of one. */
import { ClaimFailed } from '../client-errors.js';
import { Sandbox } from '../sandbox.js';
import { connectOptions, withClaim, type Context, type Outcome } from './context.js';
import { claimsTable } from './format.js';
import type { ClaimFrom, Connection } from './parse.js';

interface ClaimCommand {
  readonly connection: Connection;
}

/** The Kubernetes side only: no router is needed to list or delete claims. */
function kubeOptions(connection: Connection, signal: AbortSignal): Parameters<typeof Sandbox.list>[0] {
  const { kubeconfig, context, namespace } = connection;
  return {
    signal,
    ...(kubeconfig === undefined ? {} : { kubeconfig }),
    ...(context === undefined ? {} : { context }),
    ...(namespace === undefined ? {} : { namespace }),
  };
}

export async function claimsCommand(command: ClaimCommand, context: Context): Promise<Outcome> {
  const claims = await Sandbox.list(kubeOptions(command.connection, context.interrupts.signal));
  const namespace = command.connection.namespace ?? 'default';
  const text = claimsTable(claims, context.now()) || `no claims in namespace ${namespace}\n`;
  return { exit: 0, json: { namespace, claims }, text };
}

export async function createCommand(
  command: ClaimCommand & { claim: ClaimFrom; name?: string; shutdownAfterSeconds?: number },
  context: Context,
): Promise<Outcome> {
  const { template, pool, readyTimeoutMs } = command.claim;
  const sandbox = await Sandbox.create({
    ...connectOptions(command.connection, context.interrupts.signal),
    ...(template === undefined ? {} : { template }),
    ...(pool === undefined ? {} : { pool }),
    ...(readyTimeoutMs === undefined ? {} : { timeoutMs: readyTimeoutMs }),
    ...(command.name === undefined ? {} : { name: command.name }),
    ...(command.shutdownAfterSeconds === undefined
      ? {}
      : { shutdownAfterSeconds: command.shutdownAfterSeconds }),
  });
  await sandbox.detach();
  return {
    exit: 0,
    json: { claim: sandbox.claimName, namespace: sandbox.namespace, sandbox: sandbox.target.sandboxName },
    text: `${sandbox.claimName}\n`,
  };
}

export async function deleteCommand(
  command: ClaimCommand & { claim: string },
  context: Context,
): Promise<Outcome> {
  const options = kubeOptions(command.connection, context.interrupts.signal);
  const existed = await Sandbox.deleteClaim(command.claim, options);
  const namespace = command.connection.namespace ?? 'default';
  if (!existed)
    throw new ClaimFailed(
      command.claim,
      'NotFound',
      `no SandboxClaim ${command.claim} in namespace ${namespace}`,
    );
  return { exit: 0, json: { claim: command.claim, namespace, deleted: true }, text: '' };
}

export function portsCommand(
  command: ClaimCommand & { claim: string; port: number; preview: boolean; ttlSeconds?: number },
  context: Context,
): Promise<Outcome> {
  return withClaim(command.connection, command.claim, context, async (sandbox) => {
    if (!command.preview) {
      const url = sandbox.ports.url(command.port);
      return { exit: 0, json: { claim: command.claim, port: command.port, url }, text: `${url}\n` };
    }
    const link = await sandbox.ports.preview(command.port, {
      signal: context.interrupts.signal,
      ...(command.ttlSeconds === undefined ? {} : { ttlSeconds: command.ttlSeconds }),
    });
    return {
      exit: 0,
      json: { claim: command.claim, port: link.port, url: link.url, expiresAt: link.expiresAt.toISOString() },
      text: `${link.url}\n`,
    };
  });
}
