/**
 * Deriving the WebSocket, SSE and ticket URLs from the one URL the
 * application gives.
 *
 * @module
 */

/** The endpoints of one broadcaster. */
export interface EventUrls {
  /** `ws(s)://host/events/` */
  ws: string;
  /** `http(s)://host/events/` */
  http: string;
  /** `http(s)://host/events/ticket` */
  ticket: string;
}

/**
 * Derives the endpoints from url, which may use any of the ws, wss, http or
 * https schemes, or be relative to the page (`/events/`).
 */
export function eventUrls(url: string): EventUrls {
  const base = typeof location !== 'undefined' && location ? location.href : undefined;
  const u = new URL(url, base);
  u.search = '';
  u.hash = '';
  if (!u.pathname.endsWith('/')) u.pathname += '/';
  const secure = u.protocol === 'wss:' || u.protocol === 'https:';
  const rest = `//${u.host}${u.pathname}`;
  const http = `${secure ? 'https:' : 'http:'}${rest}`;
  return { ws: `${secure ? 'wss:' : 'ws:'}${rest}`, http, ticket: `${http}ticket` };
}
