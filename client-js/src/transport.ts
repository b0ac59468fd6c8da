/**
 * The interface between the client and its transports (WebSocket, SSE).
 *
 * @module
 */

import type { ServerMessage, TransportName } from './types.js';

/** Why a transport closed. */
export interface TransportClose {
  /** Close code: the server's, a standard WebSocket code, or a LocalCode. */
  code: number;
  reason: string;
  /** Whether the transport had opened before it closed. */
  opened: boolean;
  /** For SSE: the HTTP refusal that came instead of a stream, when known. */
  refusal?: StreamRefusal;
}

/** An HTTP refusal of an SSE stream (`{"error","channel","message"}` body). */
export interface StreamRefusal {
  status: number;
  error?: string;
  channel?: string;
  message?: string;
}

/**
 * Callbacks from a transport. After `close` is called, or after the client
 * closed the transport itself, no callback is called again.
 */
export interface TransportHandlers {
  open(): void;
  message(msg: ServerMessage): void;
  close(info: TransportClose): void;
  /** A frame or line that was no JSON object was skipped. */
  badFrame(count: number): void;
}

/** An open or opening transport. */
export interface Transport {
  readonly name: TransportName;
  /**
   * Sends a client message. Returns false when it could not be sent: the
   * transport is not open, or it cannot send at all (SSE is one-way).
   */
  send(msg: object): boolean;
  /**
   * Closes the transport. No handler is called afterwards: the client that
   * closes a transport already knows why.
   */
  close(): void;
  /** Asks the transport to deliver events of this type too (SSE needs the names). */
  listen(type: string): void;
}

/** The WebSocket constructor shape the client needs; `globalThis.WebSocket` fits. */
export interface WebSocketConstructor {
  new (url: string): WebSocketLike;
}

/** The parts of a WebSocket the client uses. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** The EventSource constructor shape the client needs; `globalThis.EventSource` fits. */
export interface EventSourceConstructor {
  new (url: string, init?: { withCredentials?: boolean }): EventSourceLike;
}

/** The parts of an EventSource the client uses. */
export interface EventSourceLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  addEventListener(type: string, listener: (ev: { data: unknown; lastEventId?: string }) => void): void;
  close(): void;
}

/** The parts of `fetch` the client uses. */
export type FetchLike = (
  input: string,
  init?: { method?: string; headers?: Record<string, string>; signal?: AbortSignal; credentials?: 'omit' | 'same-origin' | 'include' },
) => Promise<{ ok: boolean; status: number; json(): Promise<unknown>; body?: { cancel?(): unknown } | null }>;
