import type { z } from 'zod';

function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`))
    .join('');
}

/**
 * One line per problem, each starting with the field path the way the API server names it
 * (`spec.env[0].value: …`), so zod's and the server's messages read alike. Unknown keys are
 * reported at their own path, as the server's strict field validation does.
 */
export function formatZodError(error: z.ZodError): string {
  return error.issues
    .flatMap((issue) => {
      if (issue.code === 'unrecognized_keys') {
        return issue.keys.map((key) => `${formatPath([...issue.path, key])}: unknown field`);
      }
      return [`${formatPath(issue.path) || '(root)'}: ${issue.message}`];
    })
    .join('; ');
}
