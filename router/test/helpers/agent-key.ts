/**
 * The agent key of the router's tests and benchmarks (what the Secret `sandbank-agent-key` holds
 * in a cluster): fixed, 32 bytes. Its own module so a router process can hold it without loading
 * the agent (helpers/agent.ts imports the agent's sources).
 */
import { createHash } from 'node:crypto';

export const TEST_AGENT_KEY: Buffer = createHash('sha256')
  .update('sandbank router tests: the agent key')
  .digest();
