/**
 * A WebSocket echo server: every text or binary message comes back to its sender as it came (same
 * type, same bytes). Shipped in the runtime image (bundled as /opt/sandbank/ws-echo.mjs, on PATH
 * as `sandbank-ws-echo`) so sandboxed code has a WebSocket service to expose through the router's
 * port route without installing one: the cluster e2e suite and users checking their setup use it.
 */
import { once } from 'node:events';
import { WebSocketServer } from 'ws';
import type { RawData, WebSocket } from 'ws';

/**
 * Largest message echoed; a bigger one closes that connection with 1009 (message too big). It
 * bounds the memory one message holds; 1 MiB is far above what an echo check needs.
 */
export const MAX_MESSAGE_BYTES = 1024 * 1024;
/**
 * Echoes queued for a client that does not read them: past this the server stops reading that
 * client until they drain, so a client that only sends holds at most this much (plus a message).
 */
const HIGH_WATER_BYTES = 4 * MAX_MESSAGE_BYTES;

export interface WsEcho {
  /** The port it listens on (the one asked for, or the one the system chose for 0). */
  readonly port: number;
  /** Ends every connection (1001 going away) and stops listening. */
  close(): Promise<void>;
}

export async function startWsEcho(host: string, port: number): Promise<WsEcho> {
  // No compression: an echo check wants the frames as sent, and inflating is memory a peer controls.
  const server = new WebSocketServer({ host, port, maxPayload: MAX_MESSAGE_BYTES, perMessageDeflate: false });
  server.on('connection', echo);
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('listening on no TCP address');
  return {
    port: address.port,
    close: async () => {
      for (const client of server.clients) client.close(1001, 'going away');
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function echo(ws: WebSocket): void {
  ws.on('message', (data: RawData, isBinary: boolean) => {
    ws.send(data, { binary: isBinary }, () => {
      if (ws.isPaused && ws.bufferedAmount <= HIGH_WATER_BYTES) ws.resume();
    });
    if (ws.bufferedAmount > HIGH_WATER_BYTES) ws.pause();
  });
  // A protocol error (an oversized message included) ends that connection only; ws has already
  // sent the close frame with its code.
  ws.on('error', () => undefined);
}
