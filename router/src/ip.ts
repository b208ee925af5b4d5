/**
 * IP literals as the router reads them: its own listen addresses (config.ts), the pod IPs in its
 * caches and the `X-Sandbox-Pod-IP` hint callers send. One parse of each spelling, so that what
 * counts as an address (and what is a name, which may resolve to anything) is decided once.
 */
import { SocketAddress, isIP } from 'node:net';
import type { BlockList } from 'node:net';

export interface IpLiteral {
  readonly address: string;
  readonly family: 'ipv4' | 'ipv6';
}

/** `host` as an IP literal (a URL host's `[…]` removed), or undefined for a name. */
export function ipLiteral(host: string): IpLiteral | undefined {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const family = isIP(bare);
  if (family === 0) return undefined;
  return { address: bare, family: family === 4 ? 'ipv4' : 'ipv6' };
}

/** Whether `host` is an IP literal in `list`; a name never is. */
export function inBlockList(list: BlockList, host: string | IpLiteral): boolean {
  const ip = typeof host === 'string' ? ipLiteral(host) : host;
  if (ip === undefined) return false;
  try {
    return list.check(ip.address, ip.family);
  } catch {
    return false; // a literal isIP accepts and the list cannot read: not in it
  }
}

/**
 * One IP literal (no brackets, no zone, no list, no spaces) in canonical form (`0:0::1` → `::1`),
 * or undefined: two spellings of one address compare equal only in this form.
 */
export function canonicalIp(value: string): string | undefined {
  const ip = value.includes('%') || value.startsWith('[') ? undefined : ipLiteral(value);
  return ip && new SocketAddress(ip).address;
}
