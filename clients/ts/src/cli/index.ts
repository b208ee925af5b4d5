/**
 * `sandbank`: argv → a command (parse.ts, pure) → its runner → an exit code. Every failure ends as
 * one line on stderr, `sandbank: <message>`, and a documented exit code (failures.ts); with
 * `--json` also as `{"error": {code, message, exit}}` on stdout. `SANDBANK_DEBUG=1` adds the stack.
 */
import { claimsCommand, createCommand, deleteCommand, portsCommand } from './claim-commands.js';
import type { Context, Outcome } from './context.js';
import { describeFailure, EXIT } from './failures.js';
import { copyCommand, listCommand, removeCommand, statCommand } from './file-commands.js';
import { completionScript, helpText } from './help.js';
import { Interrupts } from './interrupts.js';
import { write, type CliIo } from './io.js';
import { parseCommand, type CliCommand } from './parse.js';
import { execCommand, runCommand } from './process-command.js';

export type { CliIo } from './io.js';
export { processIo } from './io.js';
export { EXIT } from './failures.js';

const text = (out: string): Outcome => ({ exit: EXIT.ok, json: undefined, text: out });

function dispatch(command: CliCommand, context: Context): Promise<Outcome> {
  switch (command.kind) {
    case 'help':
      return Promise.resolve(text(helpText(command.topic)));
    case 'completion':
      return Promise.resolve(text(completionScript(command.shell)));
    case 'run':
      return runCommand(command, context);
    case 'exec':
      return execCommand(command, context);
    case 'cp':
      return copyCommand(command, context);
    case 'ls':
      return listCommand(command, context);
    case 'stat':
      return statCommand(command, context);
    case 'rm':
      return removeCommand(command, context);
    case 'claims':
      return claimsCommand(command, context);
    case 'create':
      return createCommand(command, context);
    case 'delete':
      return deleteCommand(command, context);
    case 'ports':
      return portsCommand(command, context);
  }
}

/** Whether `argv` asks for JSON, as far as it can be told when argv itself does not parse. */
const asksJson = (argv: readonly string[]): boolean => {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).includes('--json');
};

/** Runs the CLI with `argv` (without node and the script) and resolves with its exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const interrupts = new Interrupts(io);
  let json = asksJson(argv);
  try {
    const command = parseCommand(argv);
    json = 'json' in command && command.json;
    const outcome = await dispatch(command, { io, interrupts, now: Date.now });
    if (json) await write(io.stdout, `${JSON.stringify(outcome.json, null, 2)}\n`);
    else if (outcome.text) await write(io.stdout, outcome.text);
    return outcome.exit;
  } catch (error) {
    const failure = describeFailure(error);
    if (json) {
      const document = { error: { code: failure.code, message: failure.message, exit: failure.exit } };
      await write(io.stdout, `${JSON.stringify(document, null, 2)}\n`);
    }
    await write(io.stderr, `sandbank: ${failure.message}\n`);
    if (io.env['SANDBANK_DEBUG'] === '1' && error instanceof Error && error.stack)
      await write(io.stderr, `${error.stack}\n`);
    return failure.exit;
  } finally {
    interrupts.dispose();
  }
}
