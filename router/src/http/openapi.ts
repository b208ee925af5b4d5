/**
 * The OpenAPI 3.1 document of the router's HTTP surface, served at `/openapi.json` and checked
 * in as router/openapi.json (a unit test keeps the two equal).
 */
import { ERROR_CODE_NAMES, ErrorCodes } from '../errors.js';
import { ATTACH_CONTENT_TYPE } from '../agent/attach-stream.js';
import { PROCESS_ID_PATTERN } from '@sandbank/proto';
import { DEFAULT_BUFFERED_OUTPUT_BYTES, MAX_BUFFERED_OUTPUT_BYTES } from '../exec-spec.js';

const sandboxParams = [
  {
    name: 'namespace',
    in: 'path',
    required: true,
    schema: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$' },
  },
  {
    name: 'name',
    in: 'path',
    required: true,
    schema: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$' },
    description: 'The SandboxClaim name (= the Sandbox name).',
  },
  {
    name: 'X-Sandbox-Timeout',
    in: 'header',
    required: false,
    schema: { type: 'number', exclusiveMinimum: 0 },
    description: 'Seconds; capped by ROUTER_REQUEST_TIMEOUT_SECONDS (also the default).',
  },
];
const legacyHeaders = [
  {
    name: 'X-Sandbox-ID',
    in: 'header',
    required: true,
    schema: { type: 'string', maxLength: 63 },
    description: "The Sandbox's name (DNS-1123 label); Sandbank names a claim's Sandbox like the claim.",
  },
  {
    name: 'X-Sandbox-Namespace',
    in: 'header',
    required: false,
    schema: { type: 'string', default: 'default' },
  },
  {
    name: 'X-Sandbox-Port',
    in: 'header',
    required: false,
    schema: { type: 'integer', default: 8888 },
    description: '8888 means the agent; any other port is proxied as plain HTTP.',
  },
  {
    name: 'X-Sandbox-Timeout',
    in: 'header',
    required: false,
    schema: { type: 'number', exclusiveMinimum: 0 },
  },
  {
    name: 'X-Sandbox-Pod-IP',
    in: 'header',
    required: false,
    schema: { type: 'string' },
    description:
      "A hint (upstream's SDK sends the pod IP it read): compared with the pod the router resolves, never dialled.",
  },
];
const pathParam = {
  name: 'path',
  in: 'path',
  required: true,
  schema: { type: 'string' },
  description: 'A workspace path, URL-encoded.',
};

const errorResponses = (style: 'legacy' | 'v1', codes: number[]) =>
  Object.fromEntries(
    codes.map((c) => [
      String(c),
      {
        description: 'Error',
        content: {
          'application/json': {
            schema: {
              $ref: style === 'legacy' ? '#/components/schemas/LegacyError' : '#/components/schemas/Error',
            },
          },
        },
      },
    ]),
  );
const V1_ERRORS = [400, 401, 403, 404, 409, 413, 429, 502, 503, 504];
const LEGACY_ERRORS = [400, 401, 403, 404, 413, 429, 502, 503, 504];
const json = (ref: string) => ({ 'application/json': { schema: { $ref: `#/components/schemas/${ref}` } } });

const processIdParam = {
  name: 'id',
  in: 'path',
  required: true,
  schema: { type: 'string', pattern: PROCESS_ID_PATTERN },
  description: 'A process id as start or list returned it; any other form is 400 before the agent is asked.',
};
const PROCESS_ERRORS = [...V1_ERRORS, 501, 507];
const noContent = (summary: string, body?: string) => ({
  post: {
    summary,
    parameters: [...sandboxParams, processIdParam],
    ...(body === undefined ? {} : { requestBody: { required: true, content: json(body) } }),
    responses: { '204': { description: 'Done' }, ...errorResponses('v1', PROCESS_ERRORS) },
  },
});
const PROCESSES = '/v1/namespaces/{namespace}/sandboxes/{name}/processes';

const PORT_ERRORS = [400, 401, 403, 404, 413, 429, 502, 503, 504];
const portParam = {
  name: 'port',
  in: 'path',
  required: true,
  schema: { type: 'integer', minimum: 1, maximum: 65535 },
  description:
    "A TCP port the sandbox's pod declares as a containerPort, or any port when the template's pod carries the annotation sandbank.dev/expose-any-port: \"true\". The agent's ports (ROUTER_AGENT_GRPC_PORT, ROUTER_AGENT_LEGACY_PORT) are always refused (403): use exec, files or gRPC.",
};
const proxiedPath = {
  name: 'path',
  in: 'path',
  required: true,
  schema: { type: 'string' },
  description: 'The path the sandbox gets (raw, with the query); empty: `/`.',
};
const PROXY_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;
/** One operation per method: the sandbox's own answer, or the router's error before it. */
const proxied = (summary: string, parameters: readonly object[], security?: readonly object[]) =>
  Object.fromEntries(
    PROXY_METHODS.map((method) => [
      method,
      {
        summary,
        parameters,
        ...(security === undefined ? {} : { security }),
        responses: {
          default: {
            description:
              "The sandbox's answer, streamed both ways. Never forwarded from it: Set-Cookie, WWW-Authenticate, Access-Control-Allow-Credentials, Service-Worker-Allowed, Referrer-Policy, origin-wide policies (HSTS, Alt-Svc, Clear-Site-Data, CSP) and X-Sandbank-*; the router adds Content-Security-Policy: sandbox and X-Content-Type-Options: nosniff. A GET with Upgrade: websocket is relayed as a WebSocket (101). 504 deadline_exceeded: no byte either way for ROUTER_PORT_IDLE_TIMEOUT_SECONDS; 502 upstream_failed: the sandbox's status line and headers over ROUTER_PORT_MAX_RESPONSE_HEADER_BYTES, or an invalid answer.",
          },
          ...errorResponses('v1', PORT_ERRORS),
        },
      },
    ]),
  );

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'Sandbank router',
    version: '1.0.0',
    description:
      'The front door to Sandbank sandboxes: the legacy agent-sandbox router contract, the Sandbank API (exec, files), and a WebSocket exec stream at GET /v1/namespaces/{namespace}/sandboxes/{name}/exec (subprotocol sandbank.exec.v1, frames in router/README.md; a terminal with `tty` in the start frame and `resize` frames), background processes at /v1/namespaces/{namespace}/sandboxes/{name}/processes, any declared sandbox port over HTTP and WebSocket at /v1/namespaces/{namespace}/sandboxclaims/{name}/ports/{port}/…, and signed preview links at /v1/previews/{token}/…. gRPC passthrough of sandbank.agent.v1 (ExecService, FileService, ProcessService) listens on its own port.',
  },
  components: {
    securitySchemes: {
      bearer: {
        type: 'http',
        scheme: 'bearer',
        description: 'token mode: the router token; kubernetes mode: a Kubernetes bearer token.',
      },
    },
    schemas: {
      Error: {
        type: 'object',
        required: ['error'],
        properties: {
          error: {
            type: 'object',
            required: ['code', 'message'],
            properties: {
              code: {
                type: 'string',
                enum: [...ERROR_CODE_NAMES],
                // The code table itself, so clients check their own mapping against it.
                'x-sandbank-codes': Object.fromEntries(
                  ERROR_CODE_NAMES.map((code) => {
                    const { http, ws, retryable } = ErrorCodes[code];
                    return [code, { http, ws, retryable }];
                  }),
                ),
              },
              message: { type: 'string' },
            },
          },
        },
      },
      LegacyError: { type: 'object', required: ['detail'], properties: { detail: { type: 'string' } } },
      PreviewRequest: {
        type: 'object',
        additionalProperties: false,
        required: ['port'],
        properties: {
          port: { type: 'integer', minimum: 1, maximum: 65535, description: 'As the port route allows it.' },
          ttlSeconds: {
            type: 'integer',
            minimum: 1,
            maximum: 86400,
            description:
              'The link lifetime; default ROUTER_PREVIEW_DEFAULT_TTL_SECONDS (900), at most ROUTER_PREVIEW_MAX_TTL_SECONDS (86400).',
          },
        },
      },
      PreviewLink: {
        type: 'object',
        required: ['url', 'token', 'port', 'expiresAt'],
        properties: {
          url: {
            type: 'string',
            description: "The link, relative to the router's base URL: /v1/previews/{token}/",
          },
          token: { type: 'string' },
          port: { type: 'integer' },
          expiresAt: { type: 'string', format: 'date-time' },
        },
      },
      ExecRequest: {
        type: 'object',
        additionalProperties: false,
        properties: {
          command: { type: 'array', items: { type: 'string' }, minItems: 1 },
          shell: { type: 'string' },
          env: { type: 'object', additionalProperties: { type: 'string' } },
          cwd: { type: 'string' },
          timeoutMs: { type: 'integer', minimum: 0 },
          stdin: { type: 'string' },
          stdinEncoding: { enum: ['utf8', 'base64'], default: 'utf8' },
          outputEncoding: { enum: ['utf8', 'base64'], default: 'utf8' },
          maxOutputBytes: {
            type: 'integer',
            minimum: 1,
            maximum: MAX_BUFFERED_OUTPUT_BYTES,
            default: DEFAULT_BUFFERED_OUTPUT_BYTES,
            description:
              'Bytes of stdout, and separately stderr, kept (the rest is dropped and flagged). Larger output: the WebSocket exec. Buffered output of all requests shares a router-wide budget: 429 output_budget_exhausted when it is spent.',
          },
        },
        description: 'Exactly one of command and shell.',
      },
      ExecResult: {
        type: 'object',
        properties: {
          exitCode: { type: 'integer' },
          signal: { type: 'string' },
          timedOut: { type: 'boolean' },
          oomKilled: { type: 'boolean' },
          stdoutTruncated: { type: 'boolean' },
          stderrTruncated: { type: 'boolean' },
          durationMs: { type: 'integer' },
          stdout: { type: 'string' },
          stderr: { type: 'string' },
          encoding: { enum: ['utf8', 'base64'] },
        },
      },
      TerminalSize: {
        type: 'object',
        additionalProperties: false,
        required: ['cols', 'rows'],
        properties: {
          cols: { type: 'integer', minimum: 1, maximum: 10000 },
          rows: { type: 'integer', minimum: 1, maximum: 10000 },
        },
      },
      ExitStatus: {
        type: 'object',
        properties: {
          exitCode: { type: 'integer', description: '-1 when the process ended by a signal' },
          signal: { type: 'string', description: 'e.g. SIGTERM; empty for a normal exit' },
          timedOut: { type: 'boolean' },
          oomKilled: { type: 'boolean' },
          stdoutTruncated: { type: 'boolean' },
          stderrTruncated: { type: 'boolean' },
          durationMs: { type: 'integer' },
        },
      },
      StartProcessRequest: {
        type: 'object',
        additionalProperties: false,
        properties: {
          command: { type: 'array', items: { type: 'string' }, minItems: 1 },
          shell: { type: 'string' },
          env: { type: 'object', additionalProperties: { type: 'string' } },
          cwd: { type: 'string' },
          timeoutMs: {
            type: 'integer',
            minimum: 0,
            description: 'The agent kills the process group after this long; absent or 0: no limit.',
          },
          stdin: {
            type: 'boolean',
            default: false,
            description: 'Keep stdin open for …/stdin; false: the process reads EOF at once.',
          },
          tty: {
            $ref: '#/components/schemas/TerminalSize',
            description:
              'Run on a pseudo-terminal of this size (one output stream, sent as stdout). An agent without terminals for background processes answers 501 unimplemented.',
          },
        },
        description: 'Exactly one of command and shell.',
      },
      Process: {
        type: 'object',
        properties: {
          id: { type: 'string', pattern: PROCESS_ID_PATTERN },
          pid: { type: 'integer' },
          command: {
            type: 'string',
            description: 'For display: the argument vector joined, cut to 256 characters.',
          },
          state: { enum: ['running', 'exited'] },
          exit: { oneOf: [{ $ref: '#/components/schemas/ExitStatus' }, { type: 'null' }] },
          startedAt: { type: ['string', 'null'], format: 'date-time' },
          endedAt: { type: ['string', 'null'], format: 'date-time' },
          firstOffset: {
            type: 'integer',
            minimum: 0,
            description:
              'Offset of the first output byte still retained (older bytes were dropped: ring full).',
          },
          endOffset: {
            type: 'integer',
            minimum: 0,
            description: 'Offset one past the last output byte so far.',
          },
          stdinOpen: { type: 'boolean' },
        },
      },
      ProcessStdin: {
        type: 'object',
        additionalProperties: false,
        properties: {
          data: { type: 'string', default: '' },
          encoding: { enum: ['utf8', 'base64'], default: 'utf8' },
          close: { type: 'boolean', default: false, description: 'Close stdin after writing data.' },
        },
      },
      ProcessSignal: {
        type: 'object',
        additionalProperties: false,
        required: ['signal'],
        properties: { signal: { enum: ['SIGHUP', 'SIGINT', 'SIGKILL', 'SIGTERM'] } },
      },
      ProcessWait: {
        type: 'object',
        additionalProperties: false,
        properties: { timeoutMs: { type: 'integer', minimum: 0 } },
      },
      FileInfo: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          path: { type: 'string' },
          size: { type: 'integer' },
          type: { enum: ['file', 'directory', 'symlink', 'other'] },
          mode: { type: 'integer' },
          modTime: { type: ['string', 'null'], format: 'date-time' },
        },
      },
      LegacyExecuteResult: {
        type: 'object',
        properties: {
          stdout: { type: 'string' },
          stderr: { type: 'string' },
          exit_code: { type: 'integer' },
          timed_out: { type: 'boolean', description: 'Only when the request set timeout_seconds.' },
        },
      },
      LegacyEntry: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          size: { type: 'integer' },
          type: { enum: ['file', 'directory'] },
          mod_time: { type: 'number' },
        },
      },
    },
  },
  security: [{ bearer: [] }],
  paths: {
    '/healthz': {
      get: { summary: 'Liveness', security: [], responses: { '200': { description: '{"status":"ok"}' } } },
    },
    '/readyz': {
      get: {
        summary: 'Ready once the sandbox caches have listed',
        security: [],
        responses: { '200': { description: 'ready' }, '503': { description: 'not yet' } },
      },
    },
    '/openapi.json': {
      get: { summary: 'This document', security: [], responses: { '200': { description: 'OpenAPI 3.1' } } },
    },
    '/execute': {
      post: {
        summary: 'Legacy: run a command (shlex-split, no shell)',
        parameters: legacyHeaders,
        requestBody: {
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['command'],
                properties: {
                  command: { type: 'string' },
                  timeout_seconds: {
                    type: ['number', 'null'],
                    exclusiveMinimum: 0,
                    description: 'Kill the command after this long; the answer then carries timed_out.',
                  },
                },
              },
            },
          },
        },
        responses: {
          '200': { description: 'Result', content: json('LegacyExecuteResult') },
          ...errorResponses('legacy', LEGACY_ERRORS),
        },
      },
    },
    '/upload': {
      post: {
        summary: 'Legacy: upload a file (multipart field "file"; the filename is the destination path)',
        parameters: legacyHeaders,
        requestBody: {
          content: {
            'multipart/form-data': {
              schema: { type: 'object', properties: { file: { type: 'string', format: 'binary' } } },
            },
          },
        },
        responses: {
          '200': { description: '{"message": "File \'<name>\' uploaded successfully."}' },
          ...errorResponses('legacy', LEGACY_ERRORS),
        },
      },
    },
    '/download/{path}': {
      get: {
        summary: 'Legacy: download a file',
        parameters: [...legacyHeaders, pathParam],
        responses: {
          '200': { description: 'The bytes', content: { 'application/octet-stream': {} } },
          ...errorResponses('legacy', LEGACY_ERRORS),
        },
      },
    },
    '/list/{path}': {
      get: {
        summary: 'Legacy: list a directory',
        parameters: [...legacyHeaders, pathParam],
        responses: {
          '200': {
            description: 'Entries',
            content: {
              'application/json': {
                schema: { type: 'array', items: { $ref: '#/components/schemas/LegacyEntry' } },
              },
            },
          },
          ...errorResponses('legacy', LEGACY_ERRORS),
        },
      },
    },
    '/exists/{path}': {
      get: {
        summary: 'Legacy: does a path exist',
        parameters: [...legacyHeaders, pathParam],
        responses: {
          '200': { description: '{"path": …, "exists": bool}' },
          ...errorResponses('legacy', LEGACY_ERRORS),
        },
      },
    },
    '/v1/namespaces/{namespace}/sandboxes/{name}/exec': {
      post: {
        summary: 'Run a process to completion; buffered output with exit, timeout and truncation flags',
        description:
          'A sandbox killed for going over its memory limit while the process ran (its Pod reports OOMKilled) is 507 sandbox_oom_killed; the WebSocket exec closes 4507 with the same code.',
        parameters: sandboxParams,
        requestBody: { required: true, content: json('ExecRequest') },
        responses: {
          '200': { description: 'Result', content: json('ExecResult') },
          ...errorResponses('v1', [...V1_ERRORS, 507]),
        },
      },
      get: {
        summary: 'WebSocket upgrade: streaming exec (subprotocol sandbank.exec.v1)',
        parameters: sandboxParams.map((p) =>
          p.name === 'X-Sandbox-Timeout'
            ? {
                ...p,
                description:
                  'Seconds; ends the session with close code 4504 (deadline_exceeded). Capped by ROUTER_WS_MAX_LIFETIME_SECONDS, also the default (4408 lifetime_exceeded).',
              }
            : p,
        ),
        responses: { '101': { description: 'Switching protocols' }, ...errorResponses('v1', V1_ERRORS) },
      },
    },
    '/v1/namespaces/{namespace}/sandboxes/{name}/files/{path}': {
      get: {
        summary: 'Download a file (streamed)',
        parameters: [
          ...sandboxParams,
          pathParam,
          { name: 'offset', in: 'query', schema: { type: 'integer', minimum: 0 } },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 0 } },
        ],
        responses: {
          '200': { description: 'The bytes', content: { 'application/octet-stream': {} } },
          ...errorResponses('v1', V1_ERRORS),
        },
      },
      put: {
        summary: 'Write a file (streamed, atomic)',
        parameters: [
          ...sandboxParams,
          pathParam,
          { name: 'mode', in: 'query', schema: { type: 'string', pattern: '^0?[0-7]{1,4}$' } },
          { name: 'createParents', in: 'query', schema: { type: 'boolean', default: true } },
          { name: 'exclusive', in: 'query', schema: { type: 'boolean', default: false } },
        ],
        requestBody: { content: { 'application/octet-stream': {} } },
        responses: {
          '201': { description: 'Written', content: json('FileInfo') },
          ...errorResponses('v1', V1_ERRORS),
        },
      },
      delete: {
        summary: 'Remove a file or directory',
        parameters: [
          ...sandboxParams,
          pathParam,
          { name: 'recursive', in: 'query', schema: { type: 'boolean', default: false } },
        ],
        responses: { '204': { description: 'Removed' }, ...errorResponses('v1', V1_ERRORS) },
      },
    },
    '/v1/namespaces/{namespace}/sandboxes/{name}/mkdir': {
      post: {
        summary: 'Create a directory',
        parameters: [
          ...sandboxParams,
          { name: 'path', in: 'query', required: true, schema: { type: 'string' } },
          { name: 'parents', in: 'query', schema: { type: 'boolean', default: false } },
          { name: 'mode', in: 'query', schema: { type: 'string', pattern: '^0?[0-7]{1,4}$' } },
        ],
        responses: {
          '201': {
            description: 'Created (or, with parents, the existing directory)',
            content: json('FileInfo'),
          },
          ...errorResponses('v1', V1_ERRORS),
        },
      },
    },
    '/v1/namespaces/{namespace}/sandboxes/{name}/list': {
      get: {
        summary: 'List a directory',
        parameters: [
          ...sandboxParams,
          { name: 'path', in: 'query', schema: { type: 'string', default: '' } },
        ],
        responses: {
          '200': {
            description: 'Entries',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  properties: {
                    entries: { type: 'array', items: { $ref: '#/components/schemas/FileInfo' } },
                  },
                },
              },
            },
          },
          ...errorResponses('v1', V1_ERRORS),
        },
      },
    },
    '/v1/namespaces/{namespace}/sandboxclaims/{name}/ports/{port}/{path}': proxied(
      "HTTP or WebSocket to one port of the claim's sandbox (its resolved pod), with the API's authentication; the caller's Authorization, Cookie, X-Sandbox-* and X-Sandbank-* headers are not forwarded, X-Forwarded-For/-Proto/-Host/-Prefix are set",
      [...sandboxParams, portParam, proxiedPath],
    ),
    '/v1/namespaces/{namespace}/sandboxclaims/{name}/previews': {
      post: {
        summary:
          'Make a signed preview link: one port of this claim (by UID), without the API token, until it expires',
        parameters: sandboxParams,
        requestBody: { required: true, content: json('PreviewRequest') },
        responses: {
          '201': { description: 'The link', content: json('PreviewLink') },
          ...errorResponses('v1', [...V1_ERRORS, 501]),
        },
      },
    },
    '/v1/previews/{token}/{path}': proxied(
      "A preview link: the port route for the one port and claim (by UID) the token names, until it expires. The token is the credential; it reaches the sandbox in no form (no X-Forwarded-Prefix, no Referer), and nothing is set on the router's domain for it. Responses add Referrer-Policy: no-referrer and Content-Security-Policy: sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads (scripts run, in an opaque origin). 401: an invalid or expired link; 404: the claim is gone or was made again under its name.",
      [
        { name: 'token', in: 'path', required: true, schema: { type: 'string', maxLength: 1024 } },
        proxiedPath,
      ],
      [],
    ),
    [PROCESSES]: {
      post: {
        summary:
          'Start a background process: the agent owns it; it keeps running when the caller or the router goes away. 507 resource_exhausted names the agent limit reached (running or retained processes, output memory)',
        parameters: sandboxParams,
        requestBody: { required: true, content: json('StartProcessRequest') },
        responses: {
          '201': {
            description: 'Started (or already exited, for a very short process)',
            content: json('Process'),
          },
          ...errorResponses('v1', PROCESS_ERRORS),
        },
      },
      get: {
        summary: 'List the retained processes, running or exited, oldest first',
        parameters: sandboxParams,
        responses: {
          '200': {
            description: 'Processes',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  properties: {
                    processes: { type: 'array', items: { $ref: '#/components/schemas/Process' } },
                  },
                },
              },
            },
          },
          ...errorResponses('v1', PROCESS_ERRORS),
        },
      },
    },
    [`${PROCESSES}/{id}`]: {
      get: {
        summary: 'Describe one process',
        parameters: [...sandboxParams, processIdParam],
        responses: {
          '200': { description: 'The process', content: json('Process') },
          ...errorResponses('v1', PROCESS_ERRORS),
        },
      },
      delete: {
        summary:
          'Forget an exited process and its output (409 failed_precondition while it runs: signal and wait first)',
        parameters: [...sandboxParams, processIdParam],
        responses: { '204': { description: 'Removed' }, ...errorResponses('v1', PROCESS_ERRORS) },
      },
    },
    [`${PROCESSES}/{id}/attach`]: {
      get: {
        summary:
          'Read output from an offset, as binary frames (chunked). Each frame: kind (1 byte: 0 attached, 1 stdout, 2 stderr, 3 exit), offset (8 bytes, big-endian), payload length (4 bytes, big-endian), payload. First comes attached (offset: where reading starts; payload JSON {startOffset, bytesDropped, process}), then output chunks in increasing offset order (a gap: bytes the ring dropped before they could be sent), then, once the process has exited and every retained byte was sent, exit (offset: the end offset; payload JSON ExitStatus). To resume after a lost connection (a router restart), ask again from the last output offset + its length: nothing still retained is lost. A body that ends without exit (with follow) was cut: resume. Followed attaches last up to ROUTER_WS_MAX_LIFETIME_SECONDS',
        parameters: [
          ...sandboxParams,
          processIdParam,
          {
            name: 'fromOffset',
            in: 'query',
            schema: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0 },
            description:
              'Older than the first retained byte: from the first retained byte (bytesDropped: true).',
          },
          {
            name: 'follow',
            in: 'query',
            schema: { type: 'boolean', default: false },
            description:
              'true: stream new output until the process exits; false: only the bytes retained now.',
          },
        ],
        responses: {
          '200': { description: 'Frames', content: { [ATTACH_CONTENT_TYPE]: {} } },
          ...errorResponses('v1', PROCESS_ERRORS),
        },
      },
    },
    [`${PROCESSES}/{id}/stdin`]: noContent(
      "Write to the process's stdin and/or close it (409 failed_precondition: started without stdin, closed, or exited)",
      'ProcessStdin',
    ),
    [`${PROCESSES}/{id}/signal`]: noContent(
      "Signal the process's group (ignored once it exited)",
      'ProcessSignal',
    ),
    [`${PROCESSES}/{id}/resize`]: noContent(
      "Resize the process's terminal (409 failed_precondition without a tty or once exited)",
      'TerminalSize',
    ),
    [`${PROCESSES}/{id}/wait`]: {
      post: {
        summary:
          'Wait until the process exits or timeoutMs passes; answers running (call again) shortly before the request timeout rather than 504',
        parameters: [...sandboxParams, processIdParam],
        requestBody: { content: json('ProcessWait') },
        responses: {
          '200': { description: 'The process', content: json('Process') },
          ...errorResponses('v1', PROCESS_ERRORS),
        },
      },
    },
    '/v1/namespaces/{namespace}/sandboxes/{name}/stat': {
      get: {
        summary: 'Describe a path',
        parameters: [
          ...sandboxParams,
          { name: 'path', in: 'query', schema: { type: 'string', default: '' } },
        ],
        responses: {
          '200': { description: 'Info', content: json('FileInfo') },
          ...errorResponses('v1', V1_ERRORS),
        },
      },
    },
  },
} as const;
