/**
 * Reading a node's CCS Contest API event feed (`GET /api/contests/{id}/event-feed`,
 * docs/ccs.md) from a browser: NDJSON over `fetch`, resumed with
 * `since_token` after every disconnect.
 *
 * @module
 */

import { Backoff } from './backoff.js';

/** One notification of the feed; `token` is the node's stream id. */
export interface CcsNotification {
  type: string;
  id?: string;
  /** The object, or null for a delete. */
  data: unknown;
  token: string;
}

/** Options of {@link followCcsFeed}. */
export interface CcsFeedOptions {
  /** The feed, e.g. `https://arena.example.org/api/contests/wf2024/event-feed`. */
  url: string;
  /** Bearer token (a team's or an admin's); none reads the public view. A function is called before each connection. */
  token?: string | (() => string | Promise<string>);
  /** Resume after this token (a notification's `token` from an earlier read). */
  sinceToken?: string;
  /** Only these CCS types (`types=`). */
  types?: string[];
  /** Reconnect backoff bounds in milliseconds; defaults 500 and 20,000. */
  minReconnectDelay?: number;
  maxReconnectDelay?: number;
  /** Reconnect when nothing, not even the keep-alive newline, came for this long; default 300,000 ms. */
  idleTimeout?: number;
  /** Injected for tests; default globalThis.fetch. */
  fetch?: typeof fetch;
}

/** A refusal the feed will repeat: stop, and tell the user (`status` 400, 401, 403 or 404). */
export class CcsFeedError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'CcsFeedError';
  }
}

/** A running feed: stop it, or wait for it to end (only a refusal or stop ends it). */
export interface CcsFeed {
  stop(): void;
  /** The token of the last notification delivered, for a later resume. */
  readonly sinceToken: string | undefined;
  /** Resolves after stop(); rejects with a CcsFeedError for a refusal. */
  readonly done: Promise<void>;
}

/**
 * Follows the feed, calling `onNotification` for each notification once, in order, across reconnects
 * (each one resumes with `since_token`). A 400 (the token is not one of this stream's: it was reset, refetch
 * and start again without `sinceToken`), 403 and 404 end it; a 401 ends it unless `token` is a function
 * (then a fresh token is asked for on the next attempt). Network errors and 5xx reconnect with backoff.
 */
export function followCcsFeed(opts: CcsFeedOptions, onNotification: (n: CcsNotification) => void): CcsFeed {
  const doFetch = opts.fetch ?? globalThis.fetch.bind(globalThis);
  const backoff = new Backoff(opts.minReconnectDelay ?? 500, opts.maxReconnectDelay ?? 20_000);
  const idleTimeout = opts.idleTimeout ?? 300_000;
  let since = opts.sinceToken;
  let stopped = false;
  let current: AbortController | undefined;
  let wake: (() => void) | undefined;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });

  const connect = async (): Promise<void> => {
    const u = new URL(opts.url, globalThis.location?.href);
    if (since !== undefined) u.searchParams.set('since_token', since);
    if (opts.types?.length) u.searchParams.set('types', opts.types.join(','));
    const headers: Record<string, string> = { Accept: 'application/x-ndjson' };
    const tok = typeof opts.token === 'function' ? await opts.token() : opts.token;
    if (tok) headers.Authorization = `Bearer ${tok}`;
    const ac = new AbortController();
    current = ac;
    let idle = setTimeout(() => ac.abort(), idleTimeout);
    try {
      const resp = await doFetch(u.toString(), { headers, signal: ac.signal, cache: 'no-store' });
      if (resp.status === 400 || resp.status === 403 || resp.status === 404 || (resp.status === 401 && typeof opts.token !== 'function')) {
        throw new CcsFeedError(resp.status, await resp.text().catch(() => resp.statusText));
      }
      if (!resp.ok || !resp.body) throw new Error(`event feed: HTTP ${resp.status}`);
      const reader = resp.body.getReader();
      const decoder = new TextDecoder();
      let buf = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        clearTimeout(idle);
        idle = setTimeout(() => ac.abort(), idleTimeout);
        buf += decoder.decode(value, { stream: true });
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line === '') continue; // keep-alive
          const n = JSON.parse(line) as CcsNotification;
          since = n.token;
          backoff.reset();
          onNotification(n);
        }
        // A partial last line waits for the rest; a disconnect drops it and the resume sends it again.
      }
    } finally {
      clearTimeout(idle);
      current = undefined;
    }
  };

  const done = (async () => {
    while (!stopped) {
      try {
        await connect();
      } catch (err) {
        if (err instanceof CcsFeedError) throw err;
        if (stopped) break;
      }
      if (!stopped) await sleep(backoff.next());
    }
  })();

  return {
    stop() {
      stopped = true;
      current?.abort();
      wake?.();
    },
    get sinceToken() {
      return since;
    },
    done,
  };
}
