/**
 * The pod's credential: the agent knows its token's SHA-256 (config.ts; it refuses to start
 * without one unless explicitly told to run open), and every agent call must carry
 * `authorization: Bearer <token>`. Health probes never need it (kubelet has no token); they
 * answer only SERVING / NOT_SERVING. The digest is compared in constant time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { ResponderBuilder, ServerInterceptingCall, ServerListenerBuilder, status } from '@grpc/grpc-js';
import type { Metadata, ServerInterceptor } from '@grpc/grpc-js';

const HEALTH_PREFIX = '/grpc.health.v1.Health/';

/** Whether an `authorization` header value carries the token whose digest is `expected`. */
export function bearerMatches(header: string | undefined, expected: Buffer): boolean {
  const match = header === undefined ? null : /^Bearer (\S+)$/i.exec(header.trim());
  if (!match?.[1]) return false;
  return timingSafeEqual(createHash('sha256').update(match[1]).digest(), expected);
}

/** A grpc-js server interceptor that ends calls without the token UNAUTHENTICATED. */
export function tokenInterceptor(expected: Buffer): ServerInterceptor {
  return (method, call) => {
    const listener = new ServerListenerBuilder()
      .withOnReceiveMetadata((metadata: Metadata, next: (metadata: Metadata) => void) => {
        const value = metadata.get('authorization')[0];
        if (
          method.path.startsWith(HEALTH_PREFIX) ||
          bearerMatches(typeof value === 'string' ? value : undefined, expected)
        ) {
          next(metadata);
          return;
        }
        call.sendStatus({
          code: status.UNAUTHENTICATED,
          details: 'missing or wrong token: send "authorization: Bearer <sandbox token>"',
        });
      })
      .build();
    const responder = new ResponderBuilder().withStart((next) => next(listener)).build();
    return new ServerInterceptingCall(call, responder);
  };
}
