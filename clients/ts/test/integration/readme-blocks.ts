/** The README's tested code: the fenced `ts` blocks right under the quickstart marker comment. */

/** The comment that marks the next fenced block as the quickstart a test runs as written. */
export const QUICKSTART_MARKER = '<!-- run as written by test/integration/readme-quickstart.test.ts -->';

/** The source of every ```ts block that follows the marker (blank lines between them allowed). */
export function quickstartBlocks(markdown: string): string[] {
  const blocks: string[] = [];
  const pattern = /^```ts\n([\s\S]*?)^```$/gm;
  let at = markdown.indexOf(QUICKSTART_MARKER);
  while (at !== -1) {
    pattern.lastIndex = at + QUICKSTART_MARKER.length;
    const match = pattern.exec(markdown);
    const between = match ? markdown.slice(at + QUICKSTART_MARKER.length, match.index) : '';
    if (match?.[1] !== undefined && between.trim() === '') blocks.push(match[1]);
    at = markdown.indexOf(QUICKSTART_MARKER, at + QUICKSTART_MARKER.length);
  }
  return blocks;
}
