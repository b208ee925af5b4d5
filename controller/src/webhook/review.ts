/**
 * One ConversionReview (apiextensions.k8s.io/v1) in, its response out: pure, no I/O.
 *
 * The API server sends every object of a LIST or WATCH page that is stored in another version
 * in one review; a Failure fails that whole request for the client. So Failure is kept for what
 * the API server would refuse anyway: a review that does not parse (the message names the
 * field) and a converter that gave up on an object (the message names the object). Converters
 * are meant to be total; a failure here is a bug worth a loud message, not a quiet skip.
 */
import { z } from 'zod';

export type ConversionResult =
  | { readonly ok: true; readonly object: unknown; readonly warnings?: readonly string[] | undefined }
  | { readonly ok: false; readonly message: string };

/** Converts one object to `desiredApiVersion` (`group/version`). */
export type Converter = (obj: unknown, desiredApiVersion: string) => ConversionResult;

export const REVIEW_API_VERSION = 'apiextensions.k8s.io/v1';

/** `group/version` as the API server writes it in `desiredAPIVersion` (core `v1` never converts). */
const GROUP_VERSION = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\/v[0-9]+((alpha|beta)[0-9]+)?$/;

const ObjectToConvert = z.looseObject({
  apiVersion: z.string().min(1),
  kind: z.string().min(1),
  metadata: z.looseObject({
    name: z.string().optional(),
    namespace: z.string().optional(),
    uid: z.string().optional(),
  }),
});

const Review = z.object({
  apiVersion: z.literal(REVIEW_API_VERSION),
  kind: z.literal('ConversionReview'),
  request: z.object({
    uid: z.string().min(1).max(128),
    desiredAPIVersion: z.string().regex(GROUP_VERSION, 'must be group/version'),
    objects: z.array(ObjectToConvert),
  }),
});

export interface ConversionReviewResponse {
  readonly apiVersion: typeof REVIEW_API_VERSION;
  readonly kind: 'ConversionReview';
  readonly response: {
    readonly uid: string;
    readonly convertedObjects: readonly unknown[];
    readonly result:
      { readonly status: 'Success' } | { readonly status: 'Failure'; readonly message: string };
  };
}

export interface ReviewOutcome {
  readonly review: ConversionReviewResponse;
  /** `invalid`: the review did not parse; `failed`: a converter gave up on an object. */
  readonly result: 'success' | 'failed' | 'invalid';
  /** Version labels for metrics: bounded (`v1beta1`, `mixed`, `unknown`), never free text. */
  readonly from: string;
  readonly to: string;
  /** Converter warnings, each prefixed with the object it is about (for the log, not the API). */
  readonly warnings: readonly string[];
}

/** The version part of `group/version` if it looks like a Kubernetes version, else `unknown`. */
export function versionLabel(apiVersion: unknown): string {
  if (typeof apiVersion !== 'string') return 'unknown';
  const version = apiVersion.slice(apiVersion.lastIndexOf('/') + 1);
  return /^v[0-9]{1,2}((alpha|beta)[0-9]{1,2})?$/.test(version) ? version : 'unknown';
}

const describe = (obj: z.infer<typeof ObjectToConvert>, index: number): string => {
  const { namespace, name } = obj.metadata;
  const id = namespace ? `${namespace}/${name ?? '?'}` : (name ?? '?');
  return `objects[${index}] (${obj.kind} ${id}, ${obj.apiVersion})`;
};

/** The uid of a review that may not parse, so a Failure can still be matched to its request. */
function uidOf(body: unknown): string {
  const uid = z.object({ request: z.object({ uid: z.string().max(128) }) }).safeParse(body);
  return uid.success ? uid.data.request.uid : '';
}

const failure = (uid: string, message: string): ConversionReviewResponse => ({
  apiVersion: REVIEW_API_VERSION,
  kind: 'ConversionReview',
  response: { uid, convertedObjects: [], result: { status: 'Failure', message } },
});

export function handleConversionReview(body: unknown, convert: Converter): ReviewOutcome {
  const parsed = Review.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue === undefined || issue.path.length === 0 ? '(review)' : issue.path.join('.');
    return {
      review: failure(uidOf(body), `invalid ConversionReview: ${field}: ${issue?.message ?? 'unreadable'}`),
      result: 'invalid',
      from: 'unknown',
      to: 'unknown',
      warnings: [],
    };
  }
  const { uid, desiredAPIVersion, objects } = parsed.data.request;
  const fromVersions = new Set(objects.map((o) => versionLabel(o.apiVersion)));
  const [only, ...others] = fromVersions;
  const from = only === undefined ? 'none' : others.length > 0 ? 'mixed' : only;
  const to = versionLabel(desiredAPIVersion);
  const warnings: string[] = [];
  const converted: unknown[] = [];
  for (const [index, obj] of objects.entries()) {
    const problem = convertOne(obj, desiredAPIVersion, convert, converted, warnings, describe(obj, index));
    if (problem !== undefined) {
      return { review: failure(uid, problem), result: 'failed', from, to, warnings };
    }
  }
  return {
    review: {
      apiVersion: REVIEW_API_VERSION,
      kind: 'ConversionReview',
      response: { uid, convertedObjects: converted, result: { status: 'Success' } },
    },
    result: 'success',
    from,
    to,
    warnings,
  };
}

/** Converts `obj` into `out`; the reason it cannot, naming the object, otherwise. */
function convertOne(
  obj: z.infer<typeof ObjectToConvert>,
  desired: string,
  convert: Converter,
  out: unknown[],
  warnings: string[],
  what: string,
): string | undefined {
  let result: ConversionResult;
  try {
    result = convert(obj, desired);
  } catch (error) {
    // A converter that throws is a bug; the API server only needs to know which object hit it.
    return `${what}: conversion to ${desired} threw: ${error instanceof Error ? error.message : String(error)}`;
  }
  if (!result.ok) return `${what}: cannot convert to ${desired}: ${result.message}`;
  // What the API server checks of a converted object, said here with the object's name.
  const back = ObjectToConvert.safeParse(result.object);
  if (!back.success) return `${what}: the converter returned no object with apiVersion, kind and metadata`;
  if (back.data.apiVersion !== desired) {
    return `${what}: the converter returned apiVersion ${back.data.apiVersion}, not ${desired}`;
  }
  if (back.data.kind !== obj.kind || back.data.metadata.uid !== obj.metadata.uid) {
    return `${what}: the converter changed the object's kind or uid`;
  }
  for (const w of result.warnings ?? []) warnings.push(`${what}: ${w}`);
  out.push(result.object);
  return undefined;
}
