/**
 * The client's options, their defaults, and how they are resolved.
 *
 * @module
 */

import type { Clock } from './clock.js';
import { realClock } from './clock.js';
import type { EventSourceConstructor, FetchLike, WebSocketConstructor } from './transport.js';
import type { BoardsMode } from './subscription.js';
import type { TransportName } from './types.js';

/** Options of {@link ArenacastClient}. Only `url` is required. */
export interface ClientOptions {
  /** The broadcaster's `/events/` URL; ws, wss, http, https or relative to the page. */
  url: string;
  /** A JWT to authenticate with. Without it (and without getToken) only `/scoreboard/<token>` channels work. */
  token?: string;
  /**
   * Returns a fresh JWT. Called before connecting when there is no token,
   * when the server says `token_expired`, shortly before the expiry from
   * `auth_success`, and after the token was refused.
   */
  getToken?: () => Promise<string>;
  /** Smallest reconnect delay in ms. Defaults to 500. */
  minReconnectDelay?: number;
  /** Largest reconnect delay in ms. Defaults to 20000. */
  maxReconnectDelay?: number;
  /** How often to send `{"type":"ping"}` over a WebSocket, in ms. Defaults to 25000. */
  pingInterval?: number;
  /**
   * How long to wait for a `pong` (or any other message) after a ping before
   * the connection is presumed dead and replaced, in ms. Defaults to 10000.
   */
  pongTimeout?: number;
  /** How long a WebSocket may take to open before the attempt fails, in ms. Defaults to 10000. */
  openTimeout?: number;
  /** Refresh the token this long before it expires, in ms (at most half its remaining life). Defaults to 90000. */
  tokenRefreshLead?: number;
  /** Ask for multi-event frames (`?batch=1`). Defaults to true. */
  batch?: boolean;
  /** Transports to use, in order of preference. Defaults to `['websocket', 'sse']`. */
  transports?: TransportName[];
  /** Consecutive WebSocket attempts that never opened before SSE is tried. Defaults to 2. */
  wsFailuresBeforeFallback?: number;
  /** While on SSE, try a WebSocket again this often, in ms; 0 never. Defaults to 60000. */
  websocketRetryInterval?: number;
  /**
   * Extra event types to listen for over SSE. EventSource delivers named
   * events only to listeners of that name; the four contract types and every
   * type with a handler are listened for already.
   */
  eventTypes?: string[];
  /**
   * How to receive keyed scoreboards (protocol section 8), sent as `boards`
   * on every subscribe (`?boards=` over SSE): `patch`, the board once and
   * then only the changed rows, kept by each subscription's `board`; `full`,
   * a whole board per change. Unset: nothing is sent, and the server sends
   * whole boards. `client.subscribe(channel, { boards })` overrides it per
   * channel. The Vue composables ask for `patch`.
   */
  boards?: BoardsMode;
  /** The WebSocket constructor. Defaults to `globalThis.WebSocket`, looked up at each attempt. */
  WebSocket?: WebSocketConstructor;
  /** The EventSource constructor. Defaults to `globalThis.EventSource`. */
  EventSource?: EventSourceConstructor;
  /** The fetch function, for SSE tickets and refusals. Defaults to `globalThis.fetch`. */
  fetch?: FetchLike;
  /** Timers and time. Defaults to the real ones; tests pass a manual clock. */
  clock?: Clock;
  /** Randomness for the backoff jitter, in [0, 1). Defaults to Math.random. */
  random?: () => number;
}

/** Default option values, in one place. */
export const defaults = {
  minReconnectDelay: 500,
  maxReconnectDelay: 20_000,
  pingInterval: 25_000,
  pongTimeout: 10_000,
  openTimeout: 10_000,
  tokenRefreshLead: 90_000,
  batch: true,
  transports: ['websocket', 'sse'] as TransportName[],
  wsFailuresBeforeFallback: 2,
  websocketRetryInterval: 60_000,
} as const;

/** Options with every default applied. @internal */
export type ResolvedOptions = Required<Omit<ClientOptions, 'token' | 'getToken' | 'WebSocket' | 'EventSource' | 'fetch' | 'eventTypes' | 'boards'>> &
  Pick<ClientOptions, 'getToken' | 'WebSocket' | 'EventSource' | 'fetch' | 'eventTypes' | 'boards'>;

/** Applies the defaults, in one place. @internal */
export function resolveOptions(options: ClientOptions): ResolvedOptions {
  return {
    minReconnectDelay: options.minReconnectDelay ?? defaults.minReconnectDelay,
    maxReconnectDelay: options.maxReconnectDelay ?? defaults.maxReconnectDelay,
    pingInterval: options.pingInterval ?? defaults.pingInterval,
    pongTimeout: options.pongTimeout ?? defaults.pongTimeout,
    openTimeout: options.openTimeout ?? defaults.openTimeout,
    tokenRefreshLead: options.tokenRefreshLead ?? defaults.tokenRefreshLead,
    batch: options.batch ?? defaults.batch,
    transports: options.transports ?? [...defaults.transports],
    wsFailuresBeforeFallback: options.wsFailuresBeforeFallback ?? defaults.wsFailuresBeforeFallback,
    websocketRetryInterval: options.websocketRetryInterval ?? defaults.websocketRetryInterval,
    url: options.url,
    clock: options.clock ?? realClock,
    random: options.random ?? Math.random,
    getToken: options.getToken,
    WebSocket: options.WebSocket,
    EventSource: options.EventSource,
    fetch: options.fetch,
    eventTypes: options.eventTypes,
    boards: options.boards,
  };
}
