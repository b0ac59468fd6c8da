/**
 * The Server-Sent Events transport, used when a WebSocket cannot open.
 *
 * SSE is one-way: the channels, the credential (a ticket) and the resume
 * position are fixed when the stream starts, so the client restarts the
 * stream when its subscriptions change.
 *
 * @module
 */

import { LocalCode, ReplyType } from './codes.js';
import type { ServerMessage } from './types.js';
import type {
  EventSourceConstructor,
  EventSourceLike,
  FetchLike,
  StreamRefusal,
  Transport,
  TransportHandlers,
} from './transport.js';

const CLOSED = 2;

/** What one SSE stream is opened with. */
export interface SseParams {
  /** The `/events/` URL with an http(s) scheme. */
  url: string;
  channels: string[];
  /** A ticket from `POST /events/ticket`, when any channel needs a login. */
  ticket?: string;
  /** Resume after this stream-wide event id. */
  lastEventId?: string;
  /** `boards=` for the stream: how keyed scoreboards arrive. */
  boards?: 'patch' | 'full';
  /**
   * Event types to listen for. EventSource delivers named events only to
   * listeners of that name, so every type the application handles must be
   * named; replies are always listened for.
   */
  types: Iterable<string>;
  EventSource: EventSourceConstructor;
  /** Used after a failed start to read the HTTP refusal; optional. */
  fetch?: FetchLike;
}

/** Builds the stream URL: repeated `channel=`, then `ticket=`, `last_event_id=` and `boards=`. */
export function sseUrl(p: Pick<SseParams, 'url' | 'channels' | 'ticket' | 'lastEventId' | 'boards'>): string {
  const q = new URLSearchParams();
  for (const c of p.channels) q.append('channel', c);
  if (p.ticket) q.set('ticket', p.ticket);
  if (p.lastEventId) q.set('last_event_id', p.lastEventId);
  if (p.boards) q.set('boards', p.boards);
  return `${p.url}${p.url.includes('?') ? '&' : '?'}${q.toString()}`;
}

/** Reads the JSON refusal of a stream start that failed; undefined when the stream would start. */
async function readRefusal(fetchFn: FetchLike, url: string): Promise<StreamRefusal | undefined> {
  const ctl = typeof AbortController === 'function' ? new AbortController() : undefined;
  const res = await fetchFn(url, { headers: { Accept: 'text/event-stream' }, signal: ctl?.signal });
  if (res.ok) {
    ctl?.abort();
    return undefined;
  }
  const r: StreamRefusal = { status: res.status };
  try {
    const body = (await res.json()) as Record<string, unknown>;
    if (typeof body.error === 'string') r.error = body.error;
    if (typeof body.channel === 'string') r.channel = body.channel;
    if (typeof body.message === 'string') r.message = body.message;
  } catch {
    // Not JSON: the status alone says enough.
  }
  return r;
}

/** Opens an SSE stream with EventSource. */
export function openEventSource(p: SseParams, h: TransportHandlers): Transport {
  const url = sseUrl(p);
  let done = false;
  let opened = false;
  const finish = (code: number, reason: string, refusal?: StreamRefusal): void => {
    if (done) return;
    done = true;
    try {
      es?.close();
    } catch {
      // Already closed.
    }
    h.close({ code, reason, opened, refusal });
  };
  const onData = (ev: { data: unknown }): void => {
    if (done) return;
    if (typeof ev.data !== 'string') return;
    let m: unknown;
    try {
      m = JSON.parse(ev.data);
    } catch {
      h.badFrame(1);
      return;
    }
    if (typeof m === 'object' && m !== null && typeof (m as ServerMessage).type === 'string') {
      h.message(m as ServerMessage);
    } else {
      h.badFrame(1);
    }
  };
  const listened = new Set<string>();
  const listen = (type: string): void => {
    if (!es || listened.has(type)) return;
    listened.add(type);
    es.addEventListener(type, onData);
  };

  let es: EventSourceLike | null = null;
  try {
    es = new p.EventSource(url);
  } catch (err) {
    queueMicrotask(() => finish(LocalCode.TransportClosed, `EventSource constructor failed: ${String(err)}`));
  }
  if (es) {
    listen('message');
    for (const t of Object.values(ReplyType)) listen(t);
    for (const t of p.types) listen(t);
    es.onopen = () => {
      if (done || opened) return;
      opened = true;
      h.open();
    };
    es.onerror = () => {
      if (done) return;
      if (opened) {
        // The stream ended (lifetime reached, server gone). The client
        // reconnects itself with a fresh ticket and its own resume id.
        finish(LocalCode.TransportClosed, 'stream ended');
        return;
      }
      // The stream never started. EventSource does not expose the status;
      // ask for it once so a refused channel or credential can be told apart
      // from an unreachable server.
      const source = es;
      if (source && source.readyState !== CLOSED) source.close();
      if (!p.fetch) {
        finish(LocalCode.TransportClosed, 'stream failed');
        return;
      }
      readRefusal(p.fetch, url).then(
        (r) => {
          if (r) finish(LocalCode.StreamRefused, r.message ?? r.error ?? `HTTP ${r.status}`, r);
          else finish(LocalCode.TransportClosed, 'stream failed');
        },
        () => finish(LocalCode.TransportClosed, 'stream failed'),
      );
    };
  }
  return {
    name: 'sse',
    send: () => false,
    close(): void {
      done = true;
      if (!es) return;
      es.onopen = null;
      es.onerror = null;
      try {
        es.close();
      } catch {
        // Already closed.
      }
    },
    listen,
  };
}
