/** What the commands print for people (tables, listings, a progress line), pure: tested without I/O. */
import type { ClaimState, FileInfo } from '../index.js';

/** Columns padded to their widest cell, two spaces apart; the last column is not padded. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map((row) =>
      row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  '),
    )
    .map((line) => `${line}\n`)
    .join('');
}

/** `3d`, `5h`, `12m`, `40s`, as kubectl shows an age. */
export function age(createdAt: string | undefined, now: number): string {
  const at = createdAt === undefined ? NaN : Date.parse(createdAt);
  if (Number.isNaN(at)) return '-';
  const seconds = Math.max(0, Math.floor((now - at) / 1000));
  if (seconds >= 86_400) return `${Math.floor(seconds / 86_400)}d`;
  if (seconds >= 3_600) return `${Math.floor(seconds / 3_600)}h`;
  if (seconds >= 60) return `${Math.floor(seconds / 60)}m`;
  return `${seconds}s`;
}

export function claimsTable(claims: readonly ClaimState[], now: number): string {
  if (claims.length === 0) return '';
  return table([
    ['NAME', 'STATE', 'REASON', 'SANDBOX', 'TEMPLATE', 'POOL', 'AGE'],
    ...claims.map((c) => [
      c.name,
      c.state,
      c.reason ?? '-',
      c.sandboxName ?? '-',
      c.template ?? '-',
      c.pool ?? '-',
      age(c.createdAt, now),
    ]),
  ]);
}

const TYPE_LETTER: Readonly<Record<FileInfo['type'], string>> = {
  file: '-',
  directory: 'd',
  symlink: 'l',
  other: '?',
};

/** `drwxr-xr-x`, as ls shows permission bits (setuid, setgid and sticky bits included). */
export function modeString(type: FileInfo['type'], mode: number): string {
  const bits = ['r', 'w', 'x', 'r', 'w', 'x', 'r', 'w', 'x'].map((c, i) => (mode & (1 << (8 - i)) ? c : '-'));
  const special = (index: number, bit: number, set: string): void => {
    if (mode & bit) bits[index] = bits[index] === 'x' ? set : set.toUpperCase();
  };
  special(2, 0o4000, 's');
  special(5, 0o2000, 's');
  special(8, 0o1000, 't');
  return TYPE_LETTER[type] + bits.join('');
}

/** `2026-12-07 21:50` in UTC (the sandbox's clock and yours need not share a zone). */
function shortTime(modTime: string | null | undefined): string {
  if (!modTime) return '-';
  const iso = new Date(modTime).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)}`;
}

export function listing(entries: readonly FileInfo[]): string {
  const sorted = [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const rows = sorted.map((e) => [
    modeString(e.type, e.mode),
    String(e.size).padStart(10),
    shortTime(e.modTime),
    e.type === 'directory' ? `${e.name}/` : e.name,
  ]);
  return table(rows);
}

export function statText(info: FileInfo): string {
  return table([
    ['path:', info.path],
    ['type:', info.type],
    ['size:', String(info.size)],
    ['mode:', `${info.mode.toString(8).padStart(4, '0')} (${modeString(info.type, info.mode)})`],
    ['modified:', info.modTime ?? '-'],
  ]);
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function bytes(n: number): string {
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(1)} ${UNITS[unit] ?? ''}`;
}

/**
 * One line of a progress bar, `width` columns at most:
 * `[=========>          ]  45%  12.3 MiB/27.0 MiB  5.1 MiB/s`; without a total, bytes and rate only.
 */
export function progressLine(
  done: number,
  total: number | undefined,
  elapsedMs: number,
  width: number,
): string {
  const rate = elapsedMs > 0 ? `${bytes(Math.round((done * 1000) / elapsedMs))}/s` : '';
  if (total === undefined || total <= 0) return `${bytes(done)}  ${rate}`.slice(0, width);
  const fraction = Math.min(1, done / total);
  const text = `${String(Math.floor(fraction * 100)).padStart(3)}%  ${bytes(done)}/${bytes(total)}  ${rate}`;
  const barWidth = Math.max(0, Math.min(40, width - text.length - 4));
  if (barWidth < 10) return text.slice(0, width);
  const filled = Math.floor(fraction * barWidth);
  const bar = '='.repeat(filled) + (filled < barWidth ? '>' + ' '.repeat(barWidth - filled - 1) : '');
  return `[${bar}]  ${text}`;
}
