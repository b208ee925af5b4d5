/**
 * A CLI process's last moments, for cli-exit.test.ts: far more output than a pipe holds is written
 * without waiting, `written` is said on stderr, and the process ends as the `sandbank` executable
 * ends (src/cli/main.ts).
 */
import { exitAfterOutput } from '../../src/cli/io.js';

const total = Number(process.argv[2]);
const chunk = Buffer.alloc(1000, 0x61);
for (let sent = 0; sent < total; sent += chunk.byteLength) process.stdout.write(chunk);
process.stderr.write('written\n');
await exitAfterOutput(0);
