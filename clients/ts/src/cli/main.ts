#!/usr/bin/env node
/** The `sandbank` executable: runs the CLI on this process's argv and streams, and exits with its code. */
import { runMcp } from '../mcp/index.js';
import { exitAfterOutput } from './io.js';
import { processIo, runCli } from './index.js';

// A reader that went away (`sandbank … | head`) is not an error worth a stack trace.
process.stdout.on('error', () => process.exit(1));

const argv = process.argv.slice(2);
// The MCP server reads its own flags and owns stdin/stdout for the protocol.
const code =
  argv[0] === 'mcp'
    ? await runMcp(argv.slice(1), {
        stdin: process.stdin,
        stdout: process.stdout,
        stderr: process.stderr,
        env: process.env,
      })
    : await runCli(argv, processIo());
// Exit now (a keep-alive socket or a paused stdin must not keep a finished command waiting), but
// only once the output has left.
await exitAfterOutput(code);
