/**
 * The WebSocket transport.
 *
 * @module
 */

import { LocalCode } from './codes.js';
import { parseFrame } from './frames.js';
import type { ServerMessage } from './types.js';
import type { Transport, TransportHandlers, WebSocketConstructor, WebSocketLike } from './transport.js';

const OPEN = 1;

/**
 * Opens a WebSocket to url. Every frame is parsed with {@link parseFrame},
 * so it works with and without `?batch=1`. A constructor that throws (a
 * blocked URL, a missing WebSocket) is reported as a close that never opened,
 * asynchronously, like a refused connection.
 */
export function openWebSocket(Ctor: WebSocketConstructor, url: string, h: TransportHandlers): Transport {
  let done = false;
  let ws: WebSocketLike | null = null;
  const finish = (code: number, reason: string, opened: boolean): void => {
    if (done) return;
    done = true;
    h.close({ code, reason, opened });
  };
  let opened = false;
  try {
    ws = new Ctor(url);
  } catch (err) {
    queueMicrotask(() => finish(LocalCode.TransportClosed, `WebSocket constructor failed: ${String(err)}`, false));
  }
  if (ws) {
    ws.onopen = () => {
      if (done) return;
      opened = true;
      h.open();
    };
    ws.onmessage = (ev) => {
      if (done) return;
      if (typeof ev.data !== 'string') {
        h.badFrame(1);
        return;
      }
      const { messages, bad } = parseFrame(ev.data);
      if (bad > 0) h.badFrame(bad);
      for (const m of messages) {
        if (done) return;
        if (typeof m.type === 'string') h.message(m as ServerMessage);
        else h.badFrame(1);
      }
    };
    ws.onclose = (ev) => {
      const code = typeof ev.code === 'number' && ev.code > 0 ? ev.code : LocalCode.TransportClosed;
      finish(code, ev.reason || (opened ? 'connection closed' : 'connection failed'), opened);
    };
    ws.onerror = () => {
      // A close event always follows; it carries the code.
    };
  }
  return {
    name: 'websocket',
    send(msg: object): boolean {
      if (done || !ws || ws.readyState !== OPEN) return false;
      try {
        ws.send(JSON.stringify(msg));
        return true;
      } catch {
        return false;
      }
    },
    close(): void {
      done = true;
      if (!ws) return;
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close(1000, 'client closed');
      } catch {
        // Already closing.
      }
    },
    listen(): void {
      // A WebSocket delivers every type.
    },
  };
}
