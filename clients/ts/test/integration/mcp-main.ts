/**
 * `sandbank mcp` as a process of its own, for the stdio test (the CLI's entry point wires the same
 * `runMcp`): the arguments after the script, the process's streams and environment.
 */
import { runMcp } from '../../src/mcp/index.js';

process.exitCode = await runMcp(process.argv.slice(2), {
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});
