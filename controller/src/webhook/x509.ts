/**
 * Just enough X.509 to issue the webhook's own CA and serving certificate: a DER writer for
 * the handful of types a certificate needs (RFC 5280), ECDSA P-256 keys and signatures from
 * node:crypto. Node parses certificates (`X509Certificate`) but cannot write one, and the two
 * certificates we need have a fixed shape, so a small writer beats a dependency. Everything
 * here is deterministic given its inputs except key generation and serial numbers.
 *
 * Checked by parsing the output with `X509Certificate` and with `openssl verify` in the tests;
 * the API server (Go's crypto/x509) is the consumer that matters and the integration test
 * verifies against it.
 */
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { isIP } from 'node:net';

// --- DER -----------------------------------------------------------------------------------

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

const tlv = (tag: number, ...content: Buffer[]): Buffer => {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
};

const sequence = (...items: Buffer[]): Buffer => tlv(0x30, ...items);
const set = (...items: Buffer[]): Buffer => tlv(0x31, ...items);
const explicit = (n: number, inner: Buffer): Buffer => tlv(0xa0 | n, inner);
const octetString = (b: Buffer): Buffer => tlv(0x04, b);
const bitString = (b: Buffer, unusedBits = 0): Buffer => tlv(0x03, Buffer.from([unusedBits]), b);
const utf8String = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'));
const TRUE = tlv(0x01, Buffer.from([0xff]));

/** A non-negative INTEGER from big-endian bytes (minimal: no extra leading zeros). */
function unsignedInteger(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  const pad = (trimmed[0] ?? 0) & 0x80 ? Buffer.from([0]) : Buffer.alloc(0);
  return tlv(0x02, pad, trimmed.length === 0 ? Buffer.from([0]) : trimmed);
}

function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const [a = 0, b = 0, ...rest] = arcs;
  const out: number[] = [40 * a + b];
  for (const arc of rest) {
    const chunk: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/** UTCTime through 2049, GeneralizedTime from 2050, as RFC 5280 §4.1.2.5 requires; seconds, Z. */
function time(d: Date): Buffer {
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  const year = d.getUTCFullYear();
  return year >= 1950 && year < 2050
    ? tlv(0x17, Buffer.from(digits.slice(2), 'ascii'))
    : tlv(0x18, Buffer.from(digits, 'ascii'));
}

/** A named BIT STRING (KeyUsage): bit 0 is the most significant; trailing zero bits dropped (DER). */
function namedBits(bits: readonly number[]): Buffer {
  const highest = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(highest / 8) + 1);
  for (const bit of bits) {
    const at = Math.floor(bit / 8);
    bytes.writeUInt8((bytes[at] ?? 0) | (0x80 >> (bit % 8)), at);
  }
  return bitString(bytes, 7 - (highest % 8));
}

// --- certificates --------------------------------------------------------------------------

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
} as const;

const KEY_USAGE = { digitalSignature: 0, keyCertSign: 5, cRLSign: 6 } as const;

const name = (commonName: string): Buffer =>
  sequence(
    set(sequence(oid(OID.organization), utf8String('sandbank'))),
    set(sequence(oid(OID.commonName), utf8String(commonName))),
  );

const extension = (id: string, critical: boolean, value: Buffer): Buffer =>
  sequence(oid(id), ...(critical ? [TRUE] : []), octetString(value));

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. */
function keyIdentifier(spki: Buffer): Buffer {
  // The SPKI of a P-256 key ends with the 65-byte uncompressed point (BIT STRING, 0 unused bits).
  return createHash('sha1')
    .update(spki.subarray(spki.length - 65))
    .digest();
}

/** Subject alternative names: IP addresses as iPAddress, everything else as dNSName. */
function subjectAltNames(names: readonly string[]): Buffer {
  return sequence(
    ...names.map((n) => {
      const family = isIP(n);
      if (family === 4) return tlv(0x87, Buffer.from(n.split('.').map(Number)));
      if (family === 6) return tlv(0x87, ipv6Bytes(n));
      return tlv(0x82, Buffer.from(n, 'ascii'));
    }),
  );
}

function ipv6Bytes(address: string): Buffer {
  const [head = '', tail] = address.split('::');
  const groups = (s: string | undefined) => (s ? s.split(':') : []);
  const h = groups(head);
  const t = groups(tail);
  const all = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

export interface KeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

export const newKeyPair = (): KeyPair => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

export interface IssueOptions {
  /** The certified key's public half. */
  readonly publicKey: KeyObject;
  readonly commonName: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Absent: self-signed CA (signed with `signingKey`, issuer = subject). */
  readonly issuer?: { readonly commonName: string; readonly publicKey: KeyObject };
  readonly signingKey: KeyObject;
  /** Leaf only. */
  readonly dnsNamesAndIps?: readonly string[];
}

/** A DER certificate: a CA (no `issuer`) or a TLS server leaf signed by `issuer`. */
export function issueCertificate(opts: IssueOptions): Buffer {
  const spki = opts.publicKey.export({ type: 'spki', format: 'der' });
  const isCa = opts.issuer === undefined;
  const issuerName = opts.issuer?.commonName ?? opts.commonName;
  const issuerSpki = opts.issuer?.publicKey.export({ type: 'spki', format: 'der' }) ?? spki;
  // 16 random bytes, top bit cleared: positive and at most 20 octets (RFC 5280 §4.1.2.2).
  const serial = randomBytes(16);
  serial.writeUInt8(((serial[0] ?? 0) & 0x7f) | 0x01, 0);
  const algorithm = sequence(oid(OID.ecdsaWithSha256));

  const extensions = isCa
    ? [
        extension(OID.basicConstraints, true, sequence(TRUE, unsignedInteger(Buffer.from([0])))),
        extension(OID.keyUsage, true, namedBits([KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign])),
        extension(OID.subjectKeyIdentifier, false, octetString(keyIdentifier(spki))),
      ]
    : [
        extension(OID.basicConstraints, true, sequence()),
        extension(OID.keyUsage, true, namedBits([KEY_USAGE.digitalSignature])),
        extension(OID.extKeyUsage, false, sequence(oid(OID.serverAuth))),
        extension(OID.subjectAltName, false, subjectAltNames(opts.dnsNamesAndIps ?? [])),
        extension(OID.subjectKeyIdentifier, false, octetString(keyIdentifier(spki))),
        extension(OID.authorityKeyIdentifier, false, sequence(tlv(0x80, keyIdentifier(issuerSpki)))),
      ];

  const tbs = sequence(
    explicit(0, unsignedInteger(Buffer.from([2]))), // v3
    unsignedInteger(serial),
    algorithm,
    name(issuerName),
    sequence(time(opts.notBefore), time(opts.notAfter)),
    name(opts.commonName),
    spki,
    explicit(3, sequence(...extensions)),
  );
  const signature = sign('sha256', tbs, { key: opts.signingKey, dsaEncoding: 'der' });
  return sequence(tbs, algorithm, bitString(signature));
}

export const toPem = (der: Buffer): string =>
  `-----BEGIN CERTIFICATE-----\n${(der.toString('base64').match(/.{1,64}/g) ?? []).join('\n')}\n-----END CERTIFICATE-----\n`;

export const privateKeyPem = (key: KeyObject): string =>
  key.export({ type: 'pkcs8', format: 'pem' }).toString();

export const parsePrivateKey = (pem: string): KeyObject => createPrivateKey(pem);
