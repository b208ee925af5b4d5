#!/usr/bin/env node
/** The `sandbank` executable: runs the CLI on this process's argv and streams, and exits with its code. */
import { processIo, runCli } from './index.js';

// A reader that went away (`sandbank … | head`) is not an error worth a stack trace.
process.stdout.on('error', () => process.exit(1));

const code = await runCli(process.argv.slice(2), processIo());
// Exit now: a keep-alive socket or a paused stdin must not keep a finished command waiting.
process.exit(code);
