/**
 * Who is at the other end of a connection, before any credential says so: the client's IP address
 * (never its port, which a caller chooses freely by opening another connection), and the key the
 * pre-authentication limit counts by.
 */
import { isIPv6 } from 'node:net';

/** A socket's remote address as one form: an IPv4-mapped IPv6 address is its IPv4 address. */
export function clientAddress(remoteAddress: string | undefined): string {
  if (remoteAddress === undefined || remoteAddress === '') return 'unknown';
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(remoteAddress);
  return mapped?.[1] ?? remoteAddress;
}

/**
 * A gRPC peer (`ip:port`, `[v6]:port`, grpc-js also writes `v6:port` unbracketed) as its address.
 */
export function peerAddress(peer: string): string {
  const m = /^\[?(.*?)\]?:\d+$/.exec(peer);
  return clientAddress(m ? m[1] : peer);
}

/**
 * The key one client is limited by. An IPv6 host usually holds a whole /64 (SLAAC, privacy
 * addresses), so a per-address key would give it 2^64 budgets: the /64 is the unit instead.
 */
export function addressKey(address: string): string {
  const bare = address.replace(/%.*$/, '');
  if (!isIPv6(bare)) return address;
  return `${hextets(bare).slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address, `::` expanded, without leading zeros. */
function hextets(v6: string): string[] {
  const [head = '', tail] = v6.split('::');
  const parts = (s: string): string[] => (s === '' ? [] : s.split(':'));
  const left = parts(head);
  const right = tail === undefined ? [] : parts(tail);
  // An embedded IPv4 tail (::ffff:1.2.3.4 was handled before; 64:ff9b::1.2.3.4 lands here) is
  // in the last 32 bits, which the /64 drops anyway.
  const groups = [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return groups.map((g) => (g.includes('.') ? g : parseInt(g, 16).toString(16)));
}
