/**
 * A collection read page by page (`limit` + `continue`), so a large list never holds the API
 * server or our heap for long. The client's `list` and the informer's (re)list both read this way.
 */
import { z } from 'zod';
import { KubeError } from './errors.js';
import type { KubeTransport, Query } from './transport.js';

/**
 * Objects per page. 500 (client-go's default): big enough that 5,000 pods take ten round trips,
 * small enough that one page never holds the API server or our heap for long.
 */
export const DEFAULT_PAGE_SIZE = 500;
/** Lists can be large; give each page longer than a write. */
const PAGE_TIMEOUT_MS = 60_000;

const ListPage = z.looseObject({
  metadata: z.looseObject({ resourceVersion: z.string(), continue: z.string().optional() }),
  // A Go nil slice is encoded as null.
  items: z.array(z.unknown()).nullish(),
});

export interface ListPageOptions {
  readonly transport: KubeTransport;
  /** The collection's path (resources.ts `resourcePath`). */
  readonly path: string;
  readonly query?: Query;
  readonly pageSize?: number;
  readonly signal?: AbortSignal;
}

export interface Page {
  readonly items: readonly unknown[];
  /** The list's resourceVersion (the same on every page of one list). */
  readonly resourceVersion: string;
}

/** Yields each page of one consistent list; throws `KubeError` (410 Gone if `continue` expired). */
export async function* listPages(opts: ListPageOptions): AsyncGenerator<Page> {
  let cont: string | undefined;
  do {
    const raw = await opts.transport.request<unknown>({
      method: 'GET',
      path: opts.path,
      query: { ...opts.query, limit: opts.pageSize ?? DEFAULT_PAGE_SIZE, continue: cont },
      timeoutMs: PAGE_TIMEOUT_MS,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    const page = ListPage.safeParse(raw);
    if (!page.success)
      throw new KubeError('Other', 200, `GET ${opts.path}: not a list: ${page.error.message}`);
    yield { items: page.data.items ?? [], resourceVersion: page.data.metadata.resourceVersion };
    cont = page.data.metadata.continue || undefined;
  } while (cont !== undefined && !opts.signal?.aborted);
}
