#!/usr/bin/env node
/**
 * `sandbank-ws-echo <port> [host]`: the WebSocket echo server of ./echo.ts, for sandboxed code.
 * host defaults to 0.0.0.0 (the router reaches the pod's IP); port 0 takes any free port. Prints
 * one line `listening on <host>:<port>` once it accepts connections; SIGTERM or SIGINT closes it
 * and it exits 0. Bad arguments: a message naming the argument, exit 2.
 */
import { z } from 'zod';
import { startWsEcho } from './echo.js';

// Decimal digits only: Number() would take '' as 0 and '0x1F' as 31.
const Port = z
  .string()
  .regex(/^\d{1,5}$/, 'must be a port number 0-65535')
  .transform(Number)
  .pipe(z.number().max(65535, 'must be a port number 0-65535'));
const Args = z.tuple([Port, z.string().min(1).default('0.0.0.0')]);
const ARG_NAMES = ['port', 'host'];

async function main(): Promise<void> {
  const parsed = Args.safeParse(process.argv.slice(2));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const at = issue?.path[0];
    const field = typeof at === 'number' ? (ARG_NAMES[at] ?? 'arguments') : 'arguments';
    process.stderr.write(
      `sandbank-ws-echo: ${field}: ${issue?.message ?? 'invalid'}\nusage: sandbank-ws-echo <port> [host]\n`,
    );
    process.exit(2);
  }
  const [port, host] = parsed.data;
  const server = await startWsEcho(host, port);
  process.stdout.write(`listening on ${host}:${server.port}\n`);
  const stop = (): void => {
    server.close().then(
      () => process.exit(0),
      (error: unknown) => fail(error),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

function fail(error: unknown): never {
  process.stderr.write(`sandbank-ws-echo: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}

main().catch(fail);
