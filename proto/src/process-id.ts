/**
 * Which strings may name a background process (ProcessService), shared by the agent that issues
 * ids and the router that passes callers' ids on, so neither accepts one the other refuses. The
 * agent's own ids are 8 hex digits, a dash and a counter; any string of this alphabet and length
 * may be one. Ids end up in logs and URLs, so nothing else is looked up or echoed.
 */
export const PROCESS_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$';

/** PROCESS_ID_PATTERN in words, for error messages. */
export const PROCESS_ID_RULE = '1-64 letters, digits, "_", "." or "-", starting with a letter or digit';
