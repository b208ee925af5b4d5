/**
 * A file's description as the agent sends it (FileInfo), checked against the protocol before the
 * router prints any of it. The agent runs inside the sandbox, whose code controls it: a field may
 * hold anything its wire type holds (a uint64 size, any int64 seconds, any int32 nanos, any enum
 * number), so its values are validated as strictly as a caller's input, and a reply outside the
 * protocol is the agent's failure (upstream_failed, 502), never the router's (internal, 500) and
 * never printed as something else (a size rounded, a date-time that is no RFC 3339).
 *
 * An invalid value fails the whole answer rather than being dropped: the router answers for the
 * agent, and a listing with a silently blanked field would look valid while being wrong.
 */
import { z } from 'zod';
import { formatZodError } from '@sandbank/api';
import { FileType } from '@sandbank/proto';
import type { FileInfo } from '@sandbank/proto';
import { RouterError } from '../errors.js';

/**
 * google.protobuf.Timestamp's range, 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z: a
 * JS Date holds every instant of it and RFC 3339 (four-digit years) prints every one.
 */
export const MIN_TIMESTAMP_SECONDS = -62_135_596_800n;
export const MAX_TIMESTAMP_SECONDS = 253_402_300_799n;

const Timestamp = z.object({
  seconds: z
    .bigint()
    .min(MIN_TIMESTAMP_SECONDS, { message: 'must be at or after 0001-01-01T00:00:00Z' })
    .max(MAX_TIMESTAMP_SECONDS, { message: 'must be before 10000-01-01T00:00:00Z' }),
  nanos: z.number().int().min(0).max(999_999_999),
});

/** What the router keeps of a valid FileInfo. */
const AgentFileInfo = z.object({
  name: z.string(),
  path: z.string(),
  // JSON numbers (the Sandbank API's and the legacy API's `size`) are exact up to 2^53 - 1.
  size: z
    .bigint()
    .min(0n)
    .max(BigInt(Number.MAX_SAFE_INTEGER), { message: 'must be at most 2^53 - 1 bytes' }),
  // FILE_TYPE_UNSPECIFIED is never sent by the agent (files.proto).
  type: z.union(
    [
      z.literal(FileType.FILE),
      z.literal(FileType.DIRECTORY),
      z.literal(FileType.SYMLINK),
      z.literal(FileType.OTHER),
    ],
    { message: 'must be a file type of the protocol (1-4)' },
  ),
  mode: z.number().int().min(0).max(0o7777, { message: 'must be permission bits (at most 0o7777)' }),
  modTime: Timestamp.optional(),
});
export type AgentFileInfo = z.infer<typeof AgentFileInfo>;
export type AgentTimestamp = z.infer<typeof Timestamp>;

const InfoReply = z.object({ info: AgentFileInfo });
const ListReply = z.object({ entries: z.array(AgentFileInfo) });

function checked<T>(schema: z.ZodType<T>, reply: unknown): T {
  const parsed = schema.safeParse(reply);
  if (parsed.success) return parsed.data;
  throw new RouterError(
    'upstream_failed',
    `the sandbox agent sent an invalid file info: ${formatZodError(parsed.error)}`,
  );
}

/** The `info` of a Stat, MakeDir, WriteFile or first ReadFile reply; throws upstream_failed. */
export function agentFileInfo(reply: { readonly info?: FileInfo | undefined }): AgentFileInfo {
  return checked(InfoReply, reply).info;
}

/** The `entries` of a ListDir reply; throws upstream_failed naming the first bad entry's field. */
export function agentFileInfos(reply: { readonly entries: readonly FileInfo[] }): AgentFileInfo[] {
  return checked(ListReply, reply).entries;
}

/**
 * The instant as an RFC 3339 date-time with milliseconds. The nanoseconds are truncated, not
 * rounded, so the last instant of 9999 stays in 9999 (rounding printed "+010000-01-01…").
 */
export function timestampRfc3339(ts: AgentTimestamp): string {
  return new Date(Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1_000_000)).toISOString();
}
