/**
 * Message and event shapes shared by the client, its subscriptions and its
 * transports.
 *
 * @module
 */

import type { ConnectionState, SubscriptionState } from './codes.js';

/** Any JSON value the server sends. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A message from the server, before it is known to be a reply or an event. */
export interface ServerMessage {
  type: string;
  channel?: string;
  id?: string;
  [key: string]: unknown;
}

/**
 * An event as delivered to handlers: a `run_update`, `scoreboard_update`,
 * `clarification`, `contest_update` or any other type a publisher used.
 * `id` is missing on servers that do not number events.
 */
export interface StreamEvent<T = unknown> {
  type: string;
  channel: string;
  id?: string;
  timestamp?: number;
  data: T;
  /**
   * True on the stored scoreboard a subscribe without `since` gets first
   * (`"snapshot":true` on the wire): state as of its id, not news. Absent
   * otherwise.
   */
  snapshot?: true;
  /** The view of a `scoreboard_update` or `scoreboard_patch`: `public`, `admin` or `user:<name>` (protocol section 8). */
  view?: string;
  /** On a `scoreboard_patch`: the id of the view's version the patch applies to. */
  base?: string;
  /** On a `scoreboard_update` of an opaque board: refetch after a random time in [0, jitterMs) (wire: `jitter_ms`). */
  jitterMs?: number;
}

/** One group's numbers in a {@link PresenceData}. */
export interface PresenceCounts {
  connections: number;
  /** Distinct users among them; always 0 for `viewers` (anonymous). */
  users: number;
}

/**
 * The `data` of a `presence` event (protocol section 10): who is connected
 * to a contest across every node. Counts only, never names.
 */
export interface PresenceData {
  contest: string;
  /** Subscribers of `/contest/<alias>` with participant access. */
  contestants: PresenceCounts;
  /** Subscribers of the admin channel, and of `/contest/<alias>` with admin access. */
  admins: PresenceCounts;
  /** `/scoreboard/<token>` subscribers. */
  viewers: PresenceCounts;
  /** How many nodes' counts are in the totals. */
  nodes: number;
  /** How often the totals are recomputed, in milliseconds. */
  interval_ms: number;
  /** Set when a group's `users` is an upper bound (a node had too many to send individually). */
  approximate?: true;
}

/** The name of the transport in use. */
export type TransportName = 'websocket' | 'sse';

/** Argument of the client's `state` event. */
export interface StateContext {
  oldState: ConnectionState;
  newState: ConnectionState;
}

/** Argument of the client's `connecting` and `disconnected` events. */
export interface CloseContext {
  /** A server close code, a standard WebSocket code or a {@link LocalCode}. */
  code: number;
  reason: string;
}

/** Argument of the client's `connected` event. */
export interface ConnectedContext {
  transport: TransportName;
}

/** Argument of the client's `authenticated` event (an `auth_success` reply). */
export interface AuthContext {
  user: string;
  /** Unix seconds when the token expires, when the server said. */
  expires?: number;
}

/** Where an error came from. */
export type ErrorSource = 'server' | 'auth' | 'token' | 'transport' | 'subscribe' | 'frame';

/** Argument of the `error` events of the client and of subscriptions. */
export interface ErrorContext {
  source: ErrorSource;
  /** The server's error code (`unauthorized`, `token_expired`, ...) when there is one. */
  code?: string;
  message: string;
  channel?: string;
  /** The underlying exception, for `token` and `transport` errors. */
  cause?: unknown;
}

/** Argument of the `subscribed` events. */
export interface SubscribedContext {
  channel: string;
  /** True when this subscribe asked to resume (sent `since`). */
  resumed: boolean;
  /** The server's `recovered` flag; undefined when it sent none. */
  recovered?: boolean;
}

/** Argument of the `unsubscribed` events. */
export interface UnsubscribedContext {
  channel: string;
  /** `requested`, `revoked`, `expired`, or `error` when a subscribe was refused. */
  reason: string;
}

/** Why the client asks the application to refetch state. */
export type ResyncReason =
  /** The server answered `recovered:false`: its history does not reach back far enough. */
  | 'not_recovered'
  /** The server answered a resume without a `recovered` field: it cannot resume. */
  | 'no_resume_support'
  /** After a reconnect the channel had no event id to resume from. */
  | 'no_position';

/** Argument of the `resync` events: events may have been missed; refetch state over the platform's API. */
export interface ResyncContext {
  channel: string;
  reason: ResyncReason;
  /** The last id seen before the gap, when there was one. */
  since?: string;
}

/** Argument of a subscription's `state` event. */
export interface SubscriptionStateContext {
  channel: string;
  oldState: SubscriptionState;
  newState: SubscriptionState;
}
