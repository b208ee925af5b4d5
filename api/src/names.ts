/**
 * Names, hashes and the Kubernetes syntax rules for names, label keys and values.
 * Pure: no I/O.
 */
import { z } from 'zod';

const FNV32_OFFSET_BASIS = 0x811c9dc5;
const FNV32_PRIME = 0x01000193;

/**
 * FNV-1a 32-bit hash of `name` (UTF-8 bytes) as 8 lowercase hex digits — upstream agent-sandbox's
 * `NameHash`, so label values we write match what its tooling and clients expect.
 */
export function nameHash(name: string): string {
  let hash = FNV32_OFFSET_BASIS;
  for (const byte of new TextEncoder().encode(name)) {
    hash ^= byte;
    hash = Math.imul(hash, FNV32_PRIME) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
}

/** RFC 1123 label: lowercase alphanumerics and '-', alphanumeric at both ends, at most 63 chars. */
export const DNS1123_LABEL_PATTERN = '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$';
/** RFC 1123 subdomain: dot-separated labels, at most 253 chars (object names of most kinds). */
export const DNS1123_SUBDOMAIN_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
/**
 * A qualified name as used for label and annotation keys: an optional DNS-subdomain prefix and
 * '/', then a name of at most 63 characters that starts and ends alphanumeric.
 */
export const QUALIFIED_NAME_PATTERN =
  '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$';
/** A label value: empty, or at most 63 characters that start and end alphanumeric. */
export const LABEL_VALUE_PATTERN = '^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$';

export const MAX_SUBDOMAIN_LENGTH = 253;
export const MAX_LABEL_LENGTH = 63;
/** Prefix (253) + '/' + name (63). */
export const MAX_QUALIFIED_NAME_LENGTH = 317;

export const Dns1123Label = z
  .string()
  .max(MAX_LABEL_LENGTH)
  .regex(new RegExp(DNS1123_LABEL_PATTERN), 'must be a DNS-1123 label (lowercase letters, digits and -)');

export const Dns1123Subdomain = z
  .string()
  .min(1)
  .max(MAX_SUBDOMAIN_LENGTH)
  .regex(new RegExp(DNS1123_SUBDOMAIN_PATTERN), 'must be a DNS-1123 subdomain');

export function isDns1123Label(value: string): boolean {
  return Dns1123Label.safeParse(value).success;
}
