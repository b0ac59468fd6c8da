/**
 * Every code of the Arenacast wire protocol, mirrored from the Go package
 * `protocol/` (codes.go, message.go). Keep this file in step with it: it is
 * the only place in the client that spells a code.
 *
 * @module
 */

/**
 * WebSocket close codes in the private range. 4000-4499 mean "reconnect with
 * backoff"; 4500-4999 mean "do not reconnect until the cause changes".
 */
export const CloseCode = {
  /** The node is stopping or restarting: reconnect and resume by id. */
  ServerShutdown: 4000,
  /** The client read too slowly and its queue filled: reconnect and resume. */
  SlowConsumer: 4001,
  /** No pong in time. */
  KeepaliveTimeout: 4002,
  /** The token expired and no fresh `auth` came within the grace period. */
  TokenExpired: 4003,
  /** Neither `auth` nor `subscribe` within the deadline after connecting. */
  AuthTimeout: 4004,
  /** The client kept flooding after `rate_limited` replies. */
  RateLimited: 4005,
  /** Authentication failed for good (too many failures, or another user). */
  AuthFailed: 4500,
  /** Repeated malformed messages. */
  ProtocolViolation: 4501,
  /** Too many connections on the node or for this user. */
  ConnectionLimit: 4502,
  /** The platform ended this user's sessions. */
  SessionRevoked: 4503,
} as const;

/** A close code from {@link CloseCode}. */
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** Standard WebSocket close code the server uses when a message is too big. */
export const CloseMessageTooBig = 1009;

/**
 * Close codes the client itself reports (never sent by the server); they sit
 * outside the server's ranges so a handler can tell them apart.
 */
export const LocalCode = {
  /** `disconnect()` was called. */
  DisconnectCalled: 0,
  /** The transport closed without a close code (network error, 1006). */
  TransportClosed: 1,
  /** No `pong` came within the pong timeout: the connection is presumed dead. */
  NoPong: 2,
  /** The WebSocket did not open within the open timeout. */
  OpenTimeout: 3,
  /** No transport can be used (neither WebSocket nor EventSource exists). */
  NoTransport: 4,
  /** A token could not be obtained from `getToken()`. */
  TokenUnavailable: 5,
  /** The SSE stream was refused (HTTP status before the stream started). */
  StreamRefused: 6,
} as const;

/** A code from {@link LocalCode}. */
export type LocalCode = (typeof LocalCode)[keyof typeof LocalCode];

/** Reason texts of the server's close codes, as sent in the close frame. */
export const closeReasons: Readonly<Record<number, string>> = {
  4000: 'server shutdown',
  4001: 'slow consumer',
  4002: 'keepalive timeout',
  4003: 'token expired',
  4004: 'authentication timeout',
  4005: 'rate limited',
  4500: 'authentication failed',
  4501: 'protocol violation',
  4502: 'connection limit',
  4503: 'session revoked',
};

/**
 * Reports whether a close code is terminal: 4500-4999 tell the client to stop
 * reconnecting until the cause changes.
 */
export function isTerminalClose(code: number): boolean {
  return code >= 4500 && code <= 4999;
}

/** The `error` field of an `error` reply or of an HTTP refusal body. */
export const ErrorCode = {
  Unauthorized: 'unauthorized',
  NotFound: 'not_found',
  BadRequest: 'bad_request',
  RateLimited: 'rate_limited',
  LimitExceeded: 'limit_exceeded',
  TokenExpired: 'token_expired',
  Internal: 'internal_error',
} as const;

/** An error code from {@link ErrorCode}. Unknown codes pass through as strings. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Types of the messages a client sends. */
export const ClientMessageType = {
  Auth: 'auth',
  Subscribe: 'subscribe',
  Unsubscribe: 'unsubscribe',
  Ping: 'ping',
} as const;

/** Types of the server's replies; events carry their own types. */
export const ReplyType = {
  AuthSuccess: 'auth_success',
  Subscribed: 'subscribed',
  Unsubscribed: 'unsubscribed',
  Error: 'error',
  Pong: 'pong',
} as const;

/** Reasons of an `unsubscribed` reply. */
export const UnsubscribeReason = {
  /** The client asked. */
  Requested: 'requested',
  /** The grant was withdrawn (revocation, or a refreshed token without it). */
  Revoked: 'revoked',
  /** The scoreboard token in the channel name expired. */
  Expired: 'expired',
} as const;

/** Event types named by the contract; any other `[a-z][a-z0-9_]*` may occur. */
export const EventType = {
  RunUpdate: 'run_update',
  ScoreboardUpdate: 'scoreboard_update',
  /** A change of a keyed board (protocol section 8). */
  ScoreboardPatch: 'scoreboard_patch',
  Clarification: 'clarification',
  ContestUpdate: 'contest_update',
  /**
   * The node's count of who is connected to a contest, on
   * `/contest/<alias>/admin` only, without an id (protocol section 10);
   * `data` is a {@link PresenceData}.
   */
  Presence: 'presence',
} as const;

/** Connection states: the one status vocabulary of the client and the composables. */
export type ConnectionState = 'disconnected' | 'connecting' | 'connected';

/** Subscription states. */
export type SubscriptionState = 'unsubscribed' | 'subscribing' | 'subscribed';
