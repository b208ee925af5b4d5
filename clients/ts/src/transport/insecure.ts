/**
 * How a router token may travel: never in cleartext beyond this machine. Over plain `http://` it
 * goes only to a loopback host as the URL spells it (dev mode's tunnel, a router on this machine),
 * never judged by what a name resolves to (DNS can point a name anywhere); anything else needs
 * `https://`, or the explicit development override `allowInsecure` / `$SANDBANK_ALLOW_INSECURE`.
 */
import { isIP } from 'node:net';
import { ConfigurationError, InsecureTransport } from '../client-errors.js';

export const ALLOW_INSECURE_ENV = 'SANDBANK_ALLOW_INSECURE';

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['', '0', 'false', 'no', 'off']);

/** `localhost`, 127.0.0.0/8 or ::1 (also IPv4-mapped), as written. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '')
    .toLowerCase();
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) {
    if (host === '::1' || /^(0{0,4}:){7}0{0,3}1$/.test(host)) return true;
    const mapped = /^::ffff:(.+)$/.exec(host)?.[1];
    if (mapped === undefined) return false;
    if (isIP(mapped) === 4) return mapped.startsWith('127.');
    // The URL parser writes a mapped address in hex: ::ffff:7f00:1 is 127.0.0.1.
    return /^7f[0-9a-f]{2}:[0-9a-f]{1,4}$/.test(mapped);
  }
  return false;
}

/** The `allowInsecure` option, or `$SANDBANK_ALLOW_INSECURE` (1/true/yes/on; 0/false/no/off). */
export function allowInsecureFrom(explicit: boolean | undefined, env: NodeJS.ProcessEnv): boolean {
  if (explicit) return true;
  const raw = (env[ALLOW_INSECURE_ENV] ?? '').trim().toLowerCase();
  if (TRUE.has(raw)) return true;
  if (FALSE.has(raw)) return false;
  throw new ConfigurationError(
    `${ALLOW_INSECURE_ENV}: expected 1 or 0 (true/false), got ${JSON.stringify(raw)}`,
  );
}

/**
 * Throws InsecureTransport when `token` would go over plain http:// to a host that is not
 * loopback. `what` names the option the URL came from.
 */
export function checkPlainHttp(
  url: URL,
  token: string | undefined,
  allowInsecure: boolean,
  what: string,
): void {
  if (!token || allowInsecure || url.protocol !== 'http:') return;
  if (isLoopbackHost(url.hostname)) return;
  throw new InsecureTransport(
    `${what}: refusing to send the router token over plain http:// to ${JSON.stringify(url.hostname)}, which is not a ` +
      `loopback address (anyone on the way could read it). Use https://, or, for development only, pass ` +
      `allowInsecure: true or set ${ALLOW_INSECURE_ENV}=1`,
  );
}
