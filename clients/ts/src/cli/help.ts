/** `--help` texts and the shell completions, both read from the command table (spec.ts). */
import { MCP_USAGE } from '../mcp/options.js';
import {
  COMMAND_NAMES,
  COMMANDS,
  FLAGS,
  flagLabel,
  flagsOf,
  type CommandName,
  type FlagName,
  type FlagSpec,
} from './spec.js';

function flagLines(names: readonly FlagName[]): string {
  const labels = names.map((name) => [flagLabel(name), FLAGS[name].help] as const);
  const width = Math.max(...labels.map(([label]) => label.length));
  return labels.map(([label, help]) => `  ${label.padEnd(width)}  ${help}\n`).join('');
}

export function helpText(topic: CommandName | undefined): string {
  if (topic === undefined) {
    const width = Math.max(...COMMAND_NAMES.map((c) => c.length));
    return (
      'Usage: sandbank COMMAND [FLAGS]\n\nCommands:\n' +
      COMMAND_NAMES.map((c) => `  ${c.padEnd(width)}  ${COMMANDS[c].summary}\n`).join('') +
      "\nRun 'sandbank COMMAND --help' for its flags.\n\n" +
      "Exit codes: run and exec exit with the command's code; otherwise 0 done, 1 refused by the router\n" +
      '  or the sandbox, 2 usage, 64 claim, 65 credentials, 66 Kubernetes, 67 router unreachable or\n' +
      '  unavailable, 68 configuration, 70 internal, 130/143 interrupted.\n'
    );
  }
  if (topic === 'mcp') return MCP_USAGE;
  const spec = COMMANDS[topic];
  return `Usage: sandbank ${spec.usage}\n\n${spec.summary}.\n\nFlags:\n${flagLines(flagsOf(topic))}`;
}

/** Every spelling of these flags (`--namespace`, `-n`), for completion. */
function spellings(names: readonly FlagName[]): string[] {
  return names.flatMap((name) => {
    const spec: FlagSpec = FLAGS[name];
    return spec.short ? [`--${name}`, `-${spec.short}`] : [`--${name}`];
  });
}

/**
 * A bash completion script (zsh loads the same through bashcompinit): command names first, then
 * the flags of the command being typed.
 */
export function completionScript(shell: 'bash' | 'zsh'): string {
  // Flags whose value is the next word: that word is not the command.
  const valued = spellings(
    (Object.keys(FLAGS) as FlagName[]).filter((name) => FLAGS[name].type === 'string'),
  );
  const cases = COMMAND_NAMES.map((c) => `    ${c}) flags='${spellings(flagsOf(c)).join(' ')}' ;;\n`).join(
    '',
  );
  const bash =
    `_sandbank() {\n` +
    `  local cur=\${COMP_WORDS[COMP_CWORD]} command='' flags='' i\n` +
    `  for ((i = 1; i < COMP_CWORD; i++)); do\n` +
    `    case \${COMP_WORDS[i]} in ${valued.join('|')}) ((i++)) ;; -*) ;; *) command=\${COMP_WORDS[i]}; break ;; esac\n` +
    `  done\n` +
    `  if [[ -z $command ]]; then\n` +
    `    COMPREPLY=($(compgen -W '${COMMAND_NAMES.join(' ')}' -- "$cur"))\n` +
    `    return\n` +
    `  fi\n` +
    `  case $command in\n${cases}  esac\n` +
    `  if [[ $command == completion ]]; then\n` +
    `    COMPREPLY=($(compgen -W 'bash zsh' -- "$cur"))\n` +
    `  elif [[ $cur == -* ]]; then\n` +
    `    COMPREPLY=($(compgen -W "$flags" -- "$cur"))\n` +
    `  else\n` +
    `    COMPREPLY=($(compgen -f -- "$cur"))\n` +
    `  fi\n` +
    `}\n` +
    `complete -F _sandbank sandbank\n`;
  const header =
    shell === 'zsh'
      ? '# sandbank completion for zsh: eval "$(sandbank completion zsh)"\n' +
        'autoload -U +X bashcompinit && bashcompinit\n'
      : '# sandbank completion for bash: source <(sandbank completion bash)\n';
  return header + bash;
}
