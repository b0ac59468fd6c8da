/**
 * The Arenacast client: one connection state machine over a WebSocket, or
 * over Server-Sent Events when a WebSocket cannot open.
 *
 * @module
 */

import { Backoff, backoffDelay } from './backoff.js';
import type { Clock, TimerHandle } from './clock.js';
import {
  CloseCode,
  type ConnectionState,
  ErrorCode,
  EventType,
  LocalCode,
  ReplyType,
  UnsubscribeReason,
  isTerminalClose,
} from './codes.js';
import { Emitter } from './emitter.js';
import { compareIds, isDecimalId } from './ids.js';
import { type BoardsMode, type SubscribeOptions, Subscription, type SubscriptionHost } from './subscription.js';
import { type ClientOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { TicketError, fetchTicket } from './ticket.js';
import { TokenKeeper, TokenUnavailableError } from './token.js';
import type {
  EventSourceConstructor,
  FetchLike,
  StreamRefusal,
  Transport,
  TransportClose,
  TransportHandlers,
  WebSocketConstructor,
} from './transport.js';
import { openEventSource } from './transport-sse.js';
import { openWebSocket } from './transport-ws.js';
import type {
  AuthContext,
  CloseContext,
  ConnectedContext,
  ErrorContext,
  ResyncContext,
  ServerMessage,
  StateContext,
  StreamEvent,
  SubscribedContext,
  TransportName,
  UnsubscribedContext,
} from './types.js';
import { type EventUrls, eventUrls } from './urls.js';

/** Events of {@link ArenacastClient}; any other name is an event type such as `run_update`. */
export interface ClientEvents {
  /** The connection state changed. */
  state: StateContext;
  /** The client started (re)connecting; code and reason say why. */
  connecting: CloseContext;
  /** A transport opened, or the client switched transport. */
  connected: ConnectedContext;
  /** The client stopped: `disconnect()`, or a terminal close code (4500-4999). */
  disconnected: CloseContext;
  /** The server accepted the token (`auth_success`). */
  authenticated: AuthContext;
  error: ErrorContext;
  subscribed: SubscribedContext;
  unsubscribed: UnsubscribedContext;
  /** Events may have been missed on a channel: refetch its state. */
  resync: ResyncContext;
  /** Every event of every channel. */
  event: StreamEvent;
  /** Every message from the server, replies included, before it is handled. */
  message: ServerMessage;
}

const reservedNames = new Set([
  'state', 'connecting', 'connected', 'disconnected', 'authenticated', 'error',
  'subscribed', 'unsubscribed', 'resync', 'event', 'message',
]);

/** One transport attempt and the timers that belong to it. */
interface Conn {
  name: TransportName;
  transport: Transport | null;
  opened: boolean;
  openTimer?: TimerHandle;
  pingTimer?: TimerHandle;
  pongTimer?: TimerHandle;
  authId?: string;
  authRetried: boolean;
  /** Resends after `rate_limited`, per channel (or the auth id), for their backoff. */
  retries?: Map<string, number>;
}

/** Why an attempt failed, for the fallback decision. */
type Fault = 'transport' | 'other';

/**
 * The Arenacast client. Create it, add subscriptions, then `connect()`:
 *
 * ```ts
 * const client = new ArenacastClient({ url: 'wss://example.org/events/', getToken });
 * client.subscribe('/contest/annual-2024').on('run_update', (ev) => show(ev.data));
 * client.connect();
 * ```
 *
 * The client keeps one state (`disconnected`, `connecting`, `connected`),
 * reconnects with full-jitter backoff, resubscribes with `since` and never
 * delivers an event twice. It stops only on `disconnect()` or a terminal
 * close code (4500-4999).
 */
export class ArenacastClient extends Emitter<ClientEvents, StreamEvent> implements SubscriptionHost {
  private readonly opts: ResolvedOptions;
  private readonly urls: EventUrls;
  private readonly clock: Clock;
  private readonly backoff: Backoff;
  private readonly subs = new Map<string, Subscription>();

  private st: ConnectionState = 'disconnected';
  private conn: Conn | null = null;
  private probe: Conn | null = null;
  private reconnectTimer?: TimerHandle;
  private refreshTimer?: TimerHandle;
  private probeTimer?: TimerHandle;

  private readonly tokens: TokenKeeper;
  private refreshFailures = 0;
  private authSeq = 0;

  private wsFailures = 0;
  private sseRestartQueued = false;
  private me: string | undefined;

  /** Creates a client; it does not connect until {@link connect} is called. */
  constructor(options: ClientOptions) {
    super();
    this.opts = resolveOptions(options);
    this.urls = eventUrls(options.url);
    this.clock = this.opts.clock;
    this.backoff = new Backoff(this.opts.minReconnectDelay, this.opts.maxReconnectDelay, this.opts.random);
    this.tokens = new TokenKeeper(options.getToken, this.clock, options.token);
  }

  /** The connection state. */
  get state(): ConnectionState {
    return this.st;
  }

  /** The transport of the open connection, if one is open. */
  get transport(): TransportName | undefined {
    return this.conn?.opened ? this.conn.name : undefined;
  }

  /** Starts connecting. Does nothing unless the client is disconnected. */
  connect(): void {
    if (this.st !== 'disconnected') return;
    this.setState('connecting');
    this.emit('connecting', { code: LocalCode.DisconnectCalled, reason: 'connect called' });
    this.startAttempt();
  }

  /** Closes the connection and stops reconnecting. Subscriptions are kept and resume on the next {@link connect}. */
  disconnect(): void {
    if (this.st === 'disconnected') return;
    this.stop(LocalCode.DisconnectCalled, 'disconnect called');
  }

  /** The user the server authenticated (`auth_success.user`), if any. */
  get user(): string | undefined {
    return this.me;
  }

  /**
   * Returns the subscription to channel, creating it and starting it. A
   * subscription to the same channel is shared: calling this twice returns
   * the same object. options.boards (else the client's `boards` option) is
   * sent as `boards` on every subscribe of this channel.
   *
   * `options.since` is an event id to resume from when the subscription
   * has no position of its own yet (a page restoring what it saw, or
   * backfilling recent events): the server then sends the stored events
   * after it, and `resync` follows if the history no longer reaches back
   * that far. A position the subscription already has is kept.
   */
  subscribe(channel: string, options: SubscribeOptions = {}): Subscription {
    if (options.since !== undefined && !isDecimalId(options.since)) {
      throw new TypeError(`since: ${JSON.stringify(options.since)} is not an event id`);
    }
    let sub = this.subs.get(channel);
    if (!sub) {
      sub = new Subscription(channel, this, (type) => this.listenType(type));
      this.subs.set(channel, sub);
    }
    sub._configure(options);
    if (options.since !== undefined) sub._startAfter(options.since);
    sub.subscribe();
    return sub;
  }

  /** Returns the subscription to channel, if there is one. */
  getSubscription(channel: string): Subscription | undefined {
    return this.subs.get(channel);
  }

  /** Unsubscribes and forgets the subscription, including its last event id. */
  removeSubscription(sub: Subscription): void {
    sub.unsubscribe();
    sub.removeAllListeners();
    if (this.subs.get(sub.channel) === sub) this.subs.delete(sub.channel);
  }

  /** Replaces the token; when connected over WebSocket it is sent at once (`auth` again refreshes). */
  setToken(token: string): void {
    this.tokens.set(token);
    const c = this.conn;
    if (c?.opened && c.name === 'websocket') this.sendAuth(c);
  }

  // ---- SubscriptionHost ----

  /** @internal */
  subscriptionWanted(sub: Subscription): void {
    const c = this.conn;
    if (this.st === 'disconnected' || !c) return; // The next attempt includes it.
    if (c.name === 'websocket') {
      if (c.opened) this.sendSubscribe(c, sub);
      return;
    }
    this.queueSseRestart();
  }

  /** @internal */
  subscriptionDropped(sub: Subscription): void {
    const c = this.conn;
    if (!c) return;
    if (c.name === 'websocket') {
      if (c.opened) c.transport?.send({ type: 'unsubscribe', channel: sub.channel });
      return;
    }
    this.queueSseRestart();
  }

  /** @internal */
  boardsWanted(sub: Subscription): void {
    const c = this.conn;
    if (this.st === 'disconnected' || !c || !c.opened || !sub.active) return; // The next subscribe asks.
    if (c.name === 'websocket') {
      // A subscribe to a channel the connection has is answered `subscribed`
      // and changes nothing (protocol section 4), so leave the channel
      // first; the subscribe with since resumes it with nothing lost (the
      // `unsubscribed` reply, reason requested, is not an ending here).
      c.transport?.send({ type: 'unsubscribe', channel: sub.channel });
      this.sendSubscribe(c, sub, true);
      return;
    }
    // SSE cannot send `snapshot`: restart the stream from the board's
    // version, so the patches after it come again (or a fresh board, when
    // the server's memory does not reach back).
    this.queueSseRestart();
  }

  private boardsMode(sub: Subscription): BoardsMode | undefined {
    return sub.boardsMode ?? this.opts.boards;
  }

  protected override added(name: string): void {
    this.listenType(name);
  }

  // ---- state ----

  private setState(s: ConnectionState): void {
    if (s === this.st) return;
    const old = this.st;
    this.st = s;
    this.emit('state', { oldState: old, newState: s });
  }

  private setConnected(name: TransportName): void {
    if (this.st === 'connected') return;
    this.setState('connected');
    this.emit('connected', { transport: name });
  }

  /** Stops for good: disconnect() or a terminal close code. */
  private stop(code: number, reason: string): void {
    this.clear(this.reconnectTimer);
    this.clear(this.refreshTimer);
    this.reconnectTimer = this.refreshTimer = undefined;
    this.dropProbe();
    const c = this.conn;
    this.conn = null;
    if (c) {
      c.transport?.close();
      this.clearConn(c);
    }
    for (const sub of this.subs.values()) sub._lost();
    this.setState('disconnected');
    this.emit('disconnected', { code, reason });
  }

  private clear(h: TimerHandle | undefined): void {
    if (h !== undefined) this.clock.clearTimeout(h);
  }

  private clearConn(c: Conn): void {
    this.clear(c.openTimer);
    this.clear(c.pingTimer);
    this.clear(c.pongTimer);
    c.openTimer = c.pingTimer = c.pongTimer = undefined;
  }

  private wsCtor(): WebSocketConstructor | undefined {
    if (!this.opts.transports.includes('websocket')) return undefined;
    return this.opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  }

  private esCtor(): EventSourceConstructor | undefined {
    if (!this.opts.transports.includes('sse')) return undefined;
    return this.opts.EventSource ?? (globalThis as { EventSource?: EventSourceConstructor }).EventSource;
  }

  private fetchFn(): FetchLike | undefined {
    if (this.opts.fetch) return this.opts.fetch;
    const f = (globalThis as { fetch?: FetchLike }).fetch;
    return f ? (input, init) => f(input, init) : undefined;
  }

  // ---- attempts ----

  private startAttempt(): void {
    this.reconnectTimer = undefined;
    if (this.st === 'disconnected') return;
    const ws = this.wsCtor();
    const es = this.esCtor();
    if (!ws && !es) {
      this.stop(LocalCode.NoTransport, 'neither WebSocket nor EventSource is available');
      return;
    }
    const useWs = !!ws && !(es && this.wsFailures >= this.opts.wsFailuresBeforeFallback);
    const conn: Conn = { name: useWs ? 'websocket' : 'sse', transport: null, opened: false, authRetried: false };
    this.conn = conn;
    if (useWs && ws) void this.openWs(conn, ws);
    else if (es) void this.openSse(conn, es);
  }

  private scheduleReconnect(delay = this.backoff.next()): void {
    this.clear(this.reconnectTimer);
    this.reconnectTimer = this.clock.setTimeout(() => this.startAttempt(), delay);
  }

  private transportHandlers(conn: Conn): TransportHandlers {
    return {
      open: () => {
        if (this.probe === conn) this.adoptProbe(conn);
        else if (this.conn === conn) this.opened(conn);
      },
      message: (msg) => {
        if (this.conn === conn) this.onMessage(conn, msg);
      },
      close: (info) => {
        if (this.probe === conn) this.probeFailed(conn);
        else if (this.conn === conn) this.lost(conn, info, 'transport');
      },
      badFrame: (count) => {
        if (this.conn === conn) this.emit('error', { source: 'frame', message: `skipped ${count} malformed frame(s)` });
      },
    };
  }

  private async openWs(conn: Conn, Ctor: WebSocketConstructor): Promise<void> {
    try {
      await this.tokens.forConnect();
    } catch (err) {
      if (this.conn !== conn) return;
      this.emit('error', { source: 'token', message: 'getToken failed', cause: err });
      this.lost(conn, { code: LocalCode.TokenUnavailable, reason: 'getToken failed', opened: false }, 'other');
      return;
    }
    if (this.conn !== conn) return;
    const url = this.opts.batch ? `${this.urls.ws}?batch=1` : this.urls.ws;
    conn.transport = openWebSocket(Ctor, url, this.transportHandlers(conn));
    conn.openTimer = this.clock.setTimeout(() => {
      conn.openTimer = undefined;
      if (this.conn !== conn || conn.opened) return;
      conn.transport?.close();
      this.lost(conn, { code: LocalCode.OpenTimeout, reason: 'WebSocket open timeout', opened: false }, 'transport');
    }, this.opts.openTimeout);
  }

  private async openSse(conn: Conn, Ctor: EventSourceConstructor): Promise<void> {
    const subs = [...this.subs.values()].filter((s) => s.active);
    if (subs.length === 0) return; // Nothing to stream; a subscribe restarts the stream.
    let ticket: string | undefined;
    if (subs.some((s) => !s.channel.startsWith('/scoreboard/'))) {
      try {
        ticket = await fetchTicket(this.fetchFn(), this.urls.ticket, this.tokens);
      } catch (err) {
        if (this.conn !== conn) return;
        const refusal = err instanceof TicketError ? err.refusal : undefined;
        const source = refusal?.status === 401 ? 'auth' : 'transport';
        this.emit('error', { source, code: refusal?.error, message: `SSE ticket: ${String((err as Error)?.message ?? err)}`, cause: err });
        const fault: Fault = refusal || err instanceof TokenUnavailableError ? 'other' : 'transport';
        this.lost(conn, { code: refusal ? LocalCode.StreamRefused : LocalCode.TransportClosed, reason: 'ticket request failed', opened: false }, fault);
        return;
      }
      if (this.conn !== conn) return;
    }
    // One id resumes every channel of the stream; the smallest one misses
    // nothing, and what is replayed twice is dropped by id.
    let lastEventId: string | undefined;
    for (const s of subs) {
      const id = s._resumeId;
      if (id !== undefined && (lastEventId === undefined || compareIds(id, lastEventId) < 0)) lastEventId = id;
    }
    for (const s of subs) s._sent(lastEventId, lastEventId !== undefined);
    // One boards mode for the stream: patch when any channel wants it.
    const modes = subs.map((s) => this.boardsMode(s));
    const boards = modes.includes('patch') ? 'patch' : modes.includes('full') ? 'full' : undefined;
    conn.transport = openEventSource(
      {
        url: this.urls.http,
        channels: subs.map((s) => s.channel),
        ticket,
        lastEventId,
        boards,
        types: this.allTypes(),
        EventSource: Ctor,
        fetch: this.fetchFn(),
      },
      this.transportHandlers(conn),
    );
  }

  private opened(conn: Conn): void {
    this.clear(conn.openTimer);
    conn.openTimer = undefined;
    conn.opened = true;
    if (conn.name === 'websocket') {
      this.wsFailures = 0;
      this.setConnected('websocket');
      this.handshake(conn);
    } else {
      this.setConnected('sse');
      this.startProbeTimer();
    }
  }

  /** Sends auth and every subscription over a freshly opened WebSocket, then starts the heartbeat. */
  private handshake(conn: Conn): void {
    if (this.tokens.token) this.sendAuth(conn);
    for (const sub of this.subs.values()) if (sub.active) this.sendSubscribe(conn, sub);
    this.schedulePing(conn);
  }

  private sendAuth(conn: Conn): void {
    const token = this.tokens.token;
    if (!token) return;
    conn.authId = `auth-${++this.authSeq}`;
    conn.transport?.send({ type: 'auth', token, id: conn.authId });
  }

  /**
   * Sends a subscribe: with `since` when the subscription has a position,
   * `boards` when a mode is set, and `snapshot:true` after a board gap.
   * fresh: only fresh boards are asked for, the subscription stays as it is.
   */
  private sendSubscribe(conn: Conn, sub: Subscription, fresh = false): void {
    const since = sub._resumeId;
    const msg: { type: string; channel: string; since?: string; boards?: BoardsMode; snapshot?: boolean } = { type: 'subscribe', channel: sub.channel };
    if (since !== undefined) msg.since = since;
    const boards = this.boardsMode(sub);
    if (boards !== undefined) msg.boards = boards;
    if (since !== undefined && sub.snapshotWanted) msg.snapshot = true;
    if (fresh && sub.state === 'subscribed') sub._snapshotSent();
    else sub._sent(since, since !== undefined);
    conn.transport?.send(msg);
  }

  /** Handles the end of the current attempt or connection. */
  private lost(conn: Conn, info: TransportClose, fault: Fault): void {
    if (this.conn !== conn) return;
    this.conn = null;
    this.clearConn(conn);
    conn.transport?.close();
    this.dropProbe();
    this.clear(this.refreshTimer);
    this.refreshTimer = undefined;
    for (const sub of this.subs.values()) sub._lost();
    if (isTerminalClose(info.code)) {
      this.stop(info.code, info.reason);
      return;
    }
    if (conn.name === 'websocket' && !info.opened && fault === 'transport') this.wsFailures++;
    if (conn.name === 'sse' && !info.opened && fault === 'transport' && !info.refusal) {
      // SSE could not reach the server either: the network, not WebSocket,
      // is at fault, so the next attempt tries WebSocket again.
      this.wsFailures = 0;
    }
    if (info.code === CloseCode.TokenExpired) this.tokens.markStale();
    if (this.st === 'connected') {
      this.setState('connecting');
      this.emit('connecting', { code: info.code, reason: info.reason });
    }
    if (info.refusal && this.onRefusal(info.refusal)) {
      this.scheduleReconnect(0);
      return;
    }
    this.scheduleReconnect();
  }

  /**
   * Handles an SSE stream refusal. Returns true when the cause was removed
   * (a refused channel dropped) so the next attempt may start at once.
   */
  private onRefusal(r: StreamRefusal): boolean {
    if (r.status === 401) {
      this.tokens.markStale();
      this.emit('error', { source: 'auth', code: r.error ?? ErrorCode.Unauthorized, message: r.message ?? 'stream refused' });
      return false;
    }
    const sub = r.channel ? this.subs.get(r.channel) : undefined;
    if (sub?.active) {
      const err: ErrorContext = { source: 'subscribe', code: r.error, message: r.message ?? `HTTP ${r.status}`, channel: r.channel };
      sub._ended('error', err);
      this.emit('error', err);
      this.emit('unsubscribed', { channel: sub.channel, reason: 'error' });
      return true;
    }
    this.emit('error', { source: 'transport', code: r.error, message: r.message ?? `HTTP ${r.status}` });
    return false;
  }

  // ---- messages ----

  private onMessage(conn: Conn, msg: ServerMessage): void {
    if (conn.pongTimer !== undefined) {
      // Any message proves the connection alive.
      this.clear(conn.pongTimer);
      conn.pongTimer = undefined;
    }
    this.emit('message', msg);
    const channel = typeof msg.channel === 'string' ? msg.channel : undefined;
    switch (msg.type) {
      case ReplyType.Pong:
        return;
      case ReplyType.AuthSuccess: {
        this.backoff.reset();
        conn.retries?.delete('auth'); // a later drop starts its backoff afresh
        if (typeof msg.expires === 'number') this.tokens.expires = msg.expires;
        if (typeof msg.user === 'string' && msg.user !== '') this.me = msg.user;
        this.scheduleRefresh();
        this.emit('authenticated', { user: String(msg.user ?? ''), expires: this.tokens.expires });
        return;
      }
      case ReplyType.Subscribed: {
        this.backoff.reset();
        if (channel) conn.retries?.delete(channel);
        const sub = channel ? this.subs.get(channel) : undefined;
        const r = sub?._subscribed(typeof msg.recovered === 'boolean' ? msg.recovered : undefined);
        if (r) {
          this.emit('subscribed', r.ctx);
          if (r.resync) this.emit('resync', r.resync);
        }
        return;
      }
      case ReplyType.Unsubscribed: {
        const reason = typeof msg.reason === 'string' ? msg.reason : UnsubscribeReason.Requested;
        const sub = channel ? this.subs.get(channel) : undefined;
        if (sub?.active && reason !== UnsubscribeReason.Requested) {
          sub._ended(reason);
          this.emit('unsubscribed', { channel: sub.channel, reason });
        }
        return;
      }
      case ReplyType.Error:
        this.onServerError(conn, msg, channel);
        return;
    }
    if (!channel) return;
    const sub = this.subs.get(channel);
    if (!sub) return;
    const ev: StreamEvent = {
      type: msg.type,
      channel,
      id: typeof msg.id === 'string' ? msg.id : typeof msg.id === 'number' ? String(msg.id) : undefined,
      timestamp: typeof msg.timestamp === 'number' ? msg.timestamp : undefined,
      data: msg.data,
    };
    if (msg.snapshot === true) ev.snapshot = true;
    if (typeof msg.view === 'string') ev.view = msg.view;
    if (typeof msg.base === 'string') ev.base = msg.base;
    else if (typeof msg.base === 'number') ev.base = String(msg.base);
    if (typeof msg.jitter_ms === 'number' && msg.jitter_ms > 0) ev.jitterMs = msg.jitter_ms;
    if (!sub._deliver(ev)) return;
    if (!reservedNames.has(ev.type)) this.emit(ev.type, ev);
    this.emit('event', ev);
  }

  private onServerError(conn: Conn, msg: ServerMessage, channel: string | undefined): void {
    const code = typeof msg.error === 'string' ? msg.error : '';
    const message = typeof msg.message === 'string' ? msg.message : code;
    if (code === ErrorCode.TokenExpired) {
      this.emit('error', { source: 'token', code, message });
      if (this.opts.getToken) void this.refreshToken();
      return;
    }
    if (channel) {
      const sub = this.subs.get(channel);
      const err: ErrorContext = { source: 'subscribe', code, message, channel };
      if (code === ErrorCode.RateLimited && !sub?.active) {
        // A dropped unsubscribe: the server still has the channel.
        this.emit('error', err);
        this.retryLater(conn, channel, () => {
          if (!this.subs.get(channel)?.active) conn.transport?.send({ type: 'unsubscribe', channel });
        });
        return;
      }
      if (code === ErrorCode.Internal || code === ErrorCode.RateLimited) {
        // Worth another try: the server failed, or dropped the message.
        sub?._error(err);
        this.emit('error', err);
        if (sub) this.retrySubscribe(conn, sub);
        return;
      }
      if (sub?.active) {
        sub._ended('error', err);
        this.emit('error', err);
        this.emit('unsubscribed', { channel, reason: 'error' });
      } else {
        this.emit('error', err);
      }
      return;
    }
    const id = typeof msg.id === 'string' ? msg.id : undefined;
    if (code === ErrorCode.RateLimited && id !== undefined && id === conn.authId) {
      // The auth was dropped: send the token again (a newer auth replaces it).
      this.emit('error', { source: 'auth', code, message });
      this.retryLater(conn, 'auth', () => {
        if (conn.authId === id) this.sendAuth(conn);
      });
      return;
    }
    if (code === ErrorCode.Unauthorized && (id === undefined || id === conn.authId)) {
      this.emit('error', { source: 'auth', code, message });
      if (this.opts.getToken && !conn.authRetried) {
        conn.authRetried = true;
        this.tokens.markStale();
        void this.refreshToken();
      }
      return;
    }
    this.emit('error', { source: 'server', code, message });
  }

  private retrySubscribe(conn: Conn, sub: Subscription): void {
    this.retryLater(conn, sub.channel, () => {
      if (sub.active && sub.state === 'subscribing') this.sendSubscribe(conn, sub);
    });
  }

  /**
   * Runs resend on conn (an open WebSocket) after a backoff that grows with
   * each retry of key on that connection, so that messages the server
   * dropped for its rate come back spread out rather than in one burst.
   */
  private retryLater(conn: Conn, key: string, resend: () => void): void {
    if (conn.name !== 'websocket') return;
    conn.retries ??= new Map();
    const attempt = (conn.retries.get(key) ?? 0) + 1;
    conn.retries.set(key, attempt);
    const delay = backoffDelay(attempt, this.opts.minReconnectDelay, this.opts.maxReconnectDelay, this.opts.random);
    this.clock.setTimeout(() => {
      if (this.conn === conn && conn.opened) resend();
    }, delay);
  }

  // ---- tokens ----

  /** Gets a fresh token and, on an open WebSocket, sends it. */
  private async refreshToken(): Promise<void> {
    this.clear(this.refreshTimer);
    this.refreshTimer = undefined;
    try {
      await this.tokens.fetch();
    } catch (err) {
      this.emit('error', { source: 'token', message: 'getToken failed', cause: err });
      const delay = backoffDelay(this.refreshFailures++, this.opts.minReconnectDelay, this.opts.maxReconnectDelay, this.opts.random);
      if (this.st !== 'disconnected') this.refreshTimer = this.clock.setTimeout(() => void this.refreshToken(), delay);
      return;
    }
    this.refreshFailures = 0;
    const c = this.conn;
    if (c?.opened && c.name === 'websocket') this.sendAuth(c);
  }

  private scheduleRefresh(): void {
    this.clear(this.refreshTimer);
    this.refreshTimer = undefined;
    const expires = this.tokens.expires;
    if (!this.tokens.canRefresh || expires === undefined) return;
    const remaining = expires * 1000 - this.clock.now();
    const delay = Math.max(1000, remaining - this.opts.tokenRefreshLead, remaining / 2);
    this.refreshTimer = this.clock.setTimeout(() => void this.refreshToken(), delay);
  }

  // ---- heartbeat ----

  private schedulePing(conn: Conn): void {
    conn.pingTimer = this.clock.setTimeout(() => {
      conn.pingTimer = undefined;
      if (this.conn !== conn) return;
      conn.transport?.send({ type: 'ping' });
      if (conn.pongTimer === undefined) {
        conn.pongTimer = this.clock.setTimeout(() => {
          conn.pongTimer = undefined;
          if (this.conn !== conn) return;
          conn.transport?.close();
          this.lost(conn, { code: LocalCode.NoPong, reason: 'no pong', opened: true }, 'other');
        }, this.opts.pongTimeout);
      }
      this.schedulePing(conn);
    }, this.opts.pingInterval);
  }

  // ---- SSE specifics ----

  private allTypes(): Set<string> {
    const types = new Set<string>(Object.values(EventType));
    for (const t of this.opts.eventTypes ?? []) types.add(t);
    for (const n of this.eventNames()) if (!reservedNames.has(n)) types.add(n);
    for (const sub of this.subs.values()) for (const n of sub.eventNames()) types.add(n);
    return types;
  }

  private listenType(type: string): void {
    if (reservedNames.has(type)) return;
    this.conn?.transport?.listen(type);
  }

  /** Restarts the SSE stream (once per task) after its channel set changed. */
  private queueSseRestart(): void {
    if (this.sseRestartQueued) return;
    this.sseRestartQueued = true;
    queueMicrotask(() => {
      this.sseRestartQueued = false;
      const c = this.conn;
      const es = this.esCtor();
      if (!c || c.name !== 'sse' || !es || this.st === 'disconnected') return;
      c.transport?.close();
      this.clearConn(c);
      this.dropProbe();
      for (const sub of this.subs.values()) sub._lost();
      const next: Conn = { name: 'sse', transport: null, opened: false, authRetried: false };
      this.conn = next;
      void this.openSse(next, es);
    });
  }

  private startProbeTimer(): void {
    this.clear(this.probeTimer);
    this.probeTimer = undefined;
    if (this.opts.websocketRetryInterval <= 0 || !this.wsCtor()) return;
    this.probeTimer = this.clock.setTimeout(() => this.runProbe(), this.opts.websocketRetryInterval);
  }

  /** While on SSE, tries a WebSocket in the background; it replaces the stream if it opens. */
  private runProbe(): void {
    this.probeTimer = undefined;
    const c = this.conn;
    const Ctor = this.wsCtor();
    if (!c || c.name !== 'sse' || !c.opened || !Ctor || this.probe) return;
    const p: Conn = { name: 'websocket', transport: null, opened: false, authRetried: false };
    this.probe = p;
    const url = this.opts.batch ? `${this.urls.ws}?batch=1` : this.urls.ws;
    p.transport = openWebSocket(Ctor, url, this.transportHandlers(p));
    p.openTimer = this.clock.setTimeout(() => {
      p.openTimer = undefined;
      if (this.probe !== p) return;
      p.transport?.close();
      this.probeFailed(p);
    }, this.opts.openTimeout);
  }

  private probeFailed(p: Conn): void {
    if (this.probe !== p) return;
    this.probe = null;
    this.clearConn(p);
    this.startProbeTimer();
  }

  private dropProbe(): void {
    this.clear(this.probeTimer);
    this.probeTimer = undefined;
    const p = this.probe;
    this.probe = null;
    if (p) {
      p.transport?.close();
      this.clearConn(p);
    }
  }

  /** A background WebSocket opened: it replaces the SSE stream and resumes every channel by id. */
  private adoptProbe(p: Conn): void {
    this.probe = null;
    this.clear(p.openTimer);
    p.openTimer = undefined;
    const old = this.conn;
    if (old) {
      old.transport?.close();
      this.clearConn(old);
    }
    for (const sub of this.subs.values()) sub._lost();
    this.conn = p;
    p.opened = true;
    this.wsFailures = 0;
    this.setState('connected');
    this.emit('connected', { transport: 'websocket' });
    this.handshake(p);
  }
}
