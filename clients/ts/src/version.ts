/**
 * The package's version, as MCP hosts and `--version` see it. A constant rather than a read of
 * package.json at run time, which a bundler moves away from; a unit test keeps it equal to
 * package.json's.
 */
export const CLIENT_VERSION = '0.1.0';
