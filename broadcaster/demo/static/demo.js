// Generated from client-js/demo/main.ts by `make demo-assets`. Do not edit.
"use strict";
(() => {
  // src/backoff.ts
  function backoffDelay(attempt, min, max, random = Math.random) {
    const lo = Math.max(0, min);
    const hi = Math.max(lo, max);
    const step = Math.min(Math.max(0, Math.floor(attempt)), 30);
    const cap = Math.min(hi, lo * 2 ** step);
    return Math.floor(lo + random() * (cap - lo));
  }
  var Backoff = class {
    /**
     * @param min smallest delay in milliseconds
     * @param max largest delay in milliseconds
     * @param random source of randomness in [0, 1)
     */
    constructor(min, max, random = Math.random) {
      this.min = min;
      this.max = max;
      this.random = random;
      this.attempts = 0;
    }
    /** Returns the next delay and counts one more attempt. */
    next() {
      const d = backoffDelay(this.attempts, this.min, this.max, this.random);
      this.attempts++;
      return d;
    }
    /** Forgets the failures, after a connection proved healthy. */
    reset() {
      this.attempts = 0;
    }
    /** The number of delays handed out since the last reset. */
    get attempt() {
      return this.attempts;
    }
  };

  // src/codes.ts
  var CloseCode = {
    /** The node is stopping or restarting: reconnect and resume by id. */
    ServerShutdown: 4e3,
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
    SessionRevoked: 4503
  };
  var LocalCode = {
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
    StreamRefused: 6
  };
  function isTerminalClose(code) {
    return code >= 4500 && code <= 4999;
  }
  var ErrorCode = {
    Unauthorized: "unauthorized",
    NotFound: "not_found",
    BadRequest: "bad_request",
    RateLimited: "rate_limited",
    LimitExceeded: "limit_exceeded",
    TokenExpired: "token_expired",
    Internal: "internal_error"
  };
  var ReplyType = {
    AuthSuccess: "auth_success",
    Subscribed: "subscribed",
    Unsubscribed: "unsubscribed",
    Error: "error",
    Pong: "pong"
  };
  var UnsubscribeReason = {
    /** The client asked. */
    Requested: "requested",
    /** The grant was withdrawn (revocation, or a refreshed token without it). */
    Revoked: "revoked",
    /** The scoreboard token in the channel name expired. */
    Expired: "expired"
  };
  var EventType = {
    RunUpdate: "run_update",
    ScoreboardUpdate: "scoreboard_update",
    /** A change of a keyed board (protocol section 8). */
    ScoreboardPatch: "scoreboard_patch",
    Clarification: "clarification",
    ContestUpdate: "contest_update",
    /**
     * The node's count of who is connected to a contest, on
     * `/contest/<alias>/admin` only, without an id (protocol section 10);
     * `data` is a {@link PresenceData}.
     */
    Presence: "presence"
  };

  // src/emitter.ts
  var Emitter = class {
    constructor() {
      this.listeners = /* @__PURE__ */ new Map();
    }
    on(name, handler) {
      let set = this.listeners.get(name);
      if (!set) {
        set = /* @__PURE__ */ new Set();
        this.listeners.set(name, set);
      }
      set.add(handler);
      this.added(name);
      return () => this.off(name, handler);
    }
    once(name, handler) {
      const off = this.on(name, (arg) => {
        off();
        handler(arg);
      });
      return off;
    }
    /** Removes a handler registered with {@link on}. */
    off(name, handler) {
      const set = this.listeners.get(name);
      if (!set) return;
      set.delete(handler);
      if (set.size === 0) this.listeners.delete(name);
    }
    /** Removes every handler. */
    removeAllListeners() {
      this.listeners.clear();
    }
    /** The event names that currently have handlers. */
    eventNames() {
      return [...this.listeners.keys()];
    }
    /** Called after a handler was added for name; subclasses may react. */
    added(_name) {
    }
    emit(name, arg) {
      const set = this.listeners.get(name);
      if (!set) return;
      for (const h of [...set]) {
        try {
          h(arg);
        } catch (err) {
          setTimeout(() => {
            throw err;
          }, 0);
        }
      }
    }
  };

  // src/ids.ts
  var decimal = /^[0-9]+$/;
  function isDecimalId(id) {
    return typeof id === "string" && id.length > 0 && id.length <= 40 && decimal.test(id);
  }
  function strip(id) {
    let i = 0;
    while (i < id.length - 1 && id.charCodeAt(i) === 48) i++;
    return id.slice(i);
  }
  function compareIds(a, b) {
    const x = strip(a);
    const y = strip(b);
    if (x.length !== y.length) return x.length - y.length;
    return x < y ? -1 : x > y ? 1 : 0;
  }

  // src/board.ts
  function isRecord(v) {
    return typeof v === "object" && v !== null && !Array.isArray(v);
  }
  function isKeyedBoard(data) {
    if (!isRecord(data) || typeof data.row_key !== "string" || !Array.isArray(data.rows)) return false;
    const key = data.row_key;
    const seen = /* @__PURE__ */ new Set();
    for (const r of data.rows) {
      if (!isRecord(r) || typeof r[key] !== "string" || seen.has(r[key])) return false;
      seen.add(r[key]);
    }
    return true;
  }
  function jsonEqual(a, b) {
    if (a === b) return true;
    if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
    if (Array.isArray(a) !== Array.isArray(b)) return false;
    if (Array.isArray(a)) {
      const bb = b;
      return a.length === bb.length && a.every((x, i) => jsonEqual(x, bb[i]));
    }
    const ka = Object.keys(a);
    const ob = b;
    if (ka.length !== Object.keys(ob).length) return false;
    return ka.every((k) => Object.prototype.hasOwnProperty.call(ob, k) && jsonEqual(a[k], ob[k]));
  }
  var KeyedBoard = class {
    /** Makes the board of a view from a full keyed board (see {@link isKeyedBoard}) at version id. */
    constructor(view, board, id, containers = {}) {
      this.view = view;
      // Where each key is in rows; rebuilt after rows move.
      this.index = /* @__PURE__ */ new Map();
      this.indexDirty = true;
      this.wrapRows = containers.rows ?? ((r) => r);
      const copy = { ...board, rows: this.wrapRows([...board.rows]) };
      this.data = containers.data ? containers.data(copy) : copy;
      this.version = id;
    }
    /** The rows, in order. */
    get rows() {
      return this.data.rows;
    }
    /** The name of the key member. */
    get rowKey() {
      return this.data.row_key;
    }
    /** The row with key k, if the board has it. */
    row(k) {
      const i = this.indexOf(k);
      return i === void 0 ? void 0 : this.rows[i];
    }
    indexOf(k) {
      if (this.indexDirty) {
        this.index = /* @__PURE__ */ new Map();
        const key = this.rowKey;
        this.rows.forEach((r, i) => this.index.set(r[key], i));
        this.indexDirty = false;
      }
      return this.index.get(k);
    }
    /**
     * Replaces the board with a full one at version id, in place: members are
     * set or removed, and rows equal to the ones they replace keep their old
     * objects. Returns false (and changes nothing) when id is not above the
     * version.
     */
    replace(board, id) {
      if (isDecimalId(id) && isDecimalId(this.version) && compareIds(id, this.version) <= 0) return false;
      const d = this.data;
      for (const k of Object.keys(d)) if (k !== "rows" && !(k in board)) delete d[k];
      for (const [k, v] of Object.entries(board)) if (k !== "rows" && !jsonEqual(d[k], v)) d[k] = v;
      const old = /* @__PURE__ */ new Map();
      const key = this.rowKey;
      for (const r of this.rows) old.set(r[key], r);
      const rows = this.rows;
      const next = board.rows.map((r) => {
        const o = old.get(r[key]);
        return o !== void 0 && jsonEqual(o, r) ? o : r;
      });
      for (let i = 0; i < next.length; i++) if (i >= rows.length || rows[i] !== next[i]) rows[i] = next[i];
      if (rows.length > next.length) rows.splice(next.length);
      this.indexDirty = true;
      this.version = id;
      return true;
    }
    /**
     * Applies a delivered patch with the given id and base: `fields`, then
     * `rows` (a row the board does not have goes at the end; null removes),
     * then each map of `order` in turn. All or nothing: a patch that does not
     * fit leaves the board as it was.
     */
    applyPatch(patch, id, base) {
      if (isDecimalId(id) && isDecimalId(this.version) && compareIds(id, this.version) <= 0) return "stale";
      if (base !== void 0 && base !== this.version) return "gap";
      const plan = this.plan(patch);
      if (!plan) return "invalid";
      const d = this.data;
      for (const [k, v] of plan.fields) {
        if (v === null) delete d[k];
        else d[k] = v;
      }
      const rows = this.rows;
      if (plan.removes.size > 0) {
        let w = 0;
        const key = this.rowKey;
        for (let r = 0; r < rows.length; r++) {
          const row = rows[r];
          if (plan.removes.has(row[key])) continue;
          if (w !== r) rows[w] = row;
          w++;
        }
        rows.splice(w);
        this.indexDirty = true;
      }
      for (const [k, row] of plan.sets) {
        const i = this.indexOf(k);
        if (i === void 0) {
          rows.push(row);
          this.index.set(k, rows.length - 1);
        } else {
          rows[i] = row;
        }
      }
      for (const m of plan.order) this.move(m);
      this.version = id;
      return "applied";
    }
    /** Checks a patch against the board and returns what to do, or undefined when it does not fit. */
    plan(patch) {
      if (!isRecord(patch)) return void 0;
      for (const k of Object.keys(patch)) if (k !== "rows" && k !== "order" && k !== "fields") return void 0;
      const fields = [];
      if (patch.fields !== void 0) {
        if (!isRecord(patch.fields)) return void 0;
        for (const [k, v] of Object.entries(patch.fields)) {
          if (k === "rows" || k === "row_key") return void 0;
          fields.push([k, v]);
        }
      }
      const key = this.rowKey;
      const removes = /* @__PURE__ */ new Set();
      const sets = [];
      let size = this.rows.length;
      if (patch.rows !== void 0) {
        if (!isRecord(patch.rows)) return void 0;
        for (const [k, v] of Object.entries(patch.rows)) {
          const have = this.indexOf(k) !== void 0;
          if (v === null) {
            if (have) {
              removes.add(k);
              size--;
            }
            continue;
          }
          if (!isRecord(v) || v[key] !== k) return void 0;
          sets.push([k, v]);
          if (!have) size++;
        }
      }
      const order = [];
      if (patch.order !== void 0) {
        if (!Array.isArray(patch.order)) return void 0;
        const present = (k) => !removes.has(k) && (this.indexOf(k) !== void 0 || sets.some(([s]) => s === k));
        for (const m of patch.order) {
          if (!isRecord(m)) return void 0;
          const entries = [];
          const at = /* @__PURE__ */ new Set();
          for (const [k, v] of Object.entries(m)) {
            if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v >= size || at.has(v) || !present(k)) return void 0;
            at.add(v);
            entries.push([k, v]);
          }
          order.push(entries);
        }
      }
      return { fields, removes, sets, order };
    }
    /** Applies one positions map: takes the listed rows out and puts them back at their indices, in increasing index order. */
    move(m) {
      if (m.length === 0) return;
      const rows = this.rows;
      const key = this.rowKey;
      const moving = new Set(m.map(([k]) => k));
      const byKey = /* @__PURE__ */ new Map();
      const rest = [];
      for (const r of rows) {
        const k = r[key];
        if (moving.has(k)) byKey.set(k, r);
        else rest.push(r);
      }
      const next = rest;
      for (const [k, i] of [...m].sort((a, b) => a[1] - b[1])) next.splice(i, 0, byKey.get(k));
      for (let i = 0; i < next.length; i++) if (rows[i] !== next[i]) rows[i] = next[i];
      this.indexDirty = true;
    }
  };
  function viewRank(view, me) {
    if (view === "admin") return 3;
    if (view.startsWith("user:")) return me === void 0 || view === `user:${me}` ? 2 : -1;
    if (view === "public") return 1;
    return 0;
  }
  var BoardSet = class {
    constructor(containers = {}) {
      this.containers = containers;
      this.boards = /* @__PURE__ */ new Map();
    }
    /** The board of a view, if there is one. */
    get(view) {
      return this.boards.get(view);
    }
    /** The views that have a board. */
    views() {
      return [...this.boards.keys()];
    }
    /** The most specific board there is, for the signed-in user me (undefined: anonymous or unknown). */
    current(me) {
      let best;
      let rank = 0;
      for (const b of this.boards.values()) {
        const r = viewRank(b.view, me);
        if (r > rank) {
          best = b;
          rank = r;
        }
      }
      return best;
    }
    /** Forgets every board. */
    clear() {
      this.boards.clear();
    }
    /**
     * Takes a keyed `scoreboard_update` (data, id, view) or a delivered
     * `scoreboard_patch` (data, id, view, base). Returns what happened, or
     * undefined when the event is no keyed board or patch. A patch for a view
     * without a board is a gap.
     */
    handle(type, data, id, view, base) {
      const v = view ?? "public";
      if (type === "scoreboard_update") {
        if (!isKeyedBoard(data)) return void 0;
        const b = this.boards.get(v);
        if (b && b.rowKey === data.row_key) return { view: v, result: b.replace(data, id) ? "board" : "stale" };
        this.boards.set(v, new KeyedBoard(v, data, id, this.containers));
        return { view: v, result: "board" };
      }
      if (type === "scoreboard_patch") {
        const b = this.boards.get(v);
        if (!b) return { view: v, result: "gap" };
        return { view: v, result: b.applyPatch(data, id, base) };
      }
      return void 0;
    }
  };

  // src/subscription.ts
  var reserved = /* @__PURE__ */ new Set(["state", "subscribing", "subscribed", "unsubscribed", "error", "resync", "event", "board"]);
  var Subscription = class extends Emitter {
    /** @internal */
    constructor(channel, host, onListen) {
      super();
      this.channel = channel;
      this.host = host;
      this.onListen = onListen;
      this.st = "unsubscribed";
      // High-water marks: while a scoreboard_update (or a scoreboard_patch)
      // waits in the server's queue a newer one of the same view replaces it (or
      // is folded into it) in place, keeping the newer id, so a scoreboard may
      // arrive ahead of events with smaller ids, those of other views included.
      // Each type and view is in order on its own; everything else shares one.
      this.boardMarks = /* @__PURE__ */ new Map();
      this.containers = {};
      /** A gap was found: the next subscribe asks for fresh boards (`snapshot:true`). @internal */
      this.snapshotWanted = false;
      this.snapshotAsked = false;
      this.wanted = false;
      this.confirmedBefore = false;
      this.sentResume = false;
      this.keyed = new BoardSet();
    }
    /** Applies subscribe options. @internal */
    _configure(o) {
      if (!o) return;
      if (o.boards !== void 0) this.boardsMode = o.boards;
      if (o.containers !== void 0 && o.containers !== this.containers) {
        this.containers = o.containers;
        this.keyed = new BoardSet(o.containers);
      }
    }
    /**
     * The keyed board to show: the channel's most specific view (`admin`,
     * else the user's own `user:<name>`, else `public`), kept current from
     * full boards and patches. Undefined until a keyed board arrived.
     */
    get board() {
      return this.keyed.current(this.host.user);
    }
    /** The keyed board of one view (`public`, `admin`, `user:<name>`), if there is one. */
    boardOf(view) {
      return this.keyed.get(view);
    }
    /** The subscription state. */
    get state() {
      return this.st;
    }
    /**
     * The resume position: the id of the last event delivered on this channel
     * (of the last non-scoreboard event when there was one, since scoreboards
     * may overtake other events), if any had an id.
     */
    get lastId() {
      if (this.lastOther !== void 0) return this.lastOther;
      const views = /* @__PURE__ */ new Map();
      for (const [k, id] of this.boardMarks) {
        const view = k.slice(k.indexOf("\0") + 1);
        const have = views.get(view);
        if (have === void 0 || compareIds(id, have) > 0) views.set(view, id);
      }
      let min;
      for (const id of views.values()) if (min === void 0 || compareIds(id, min) < 0) min = id;
      return min;
    }
    /**
     * Where to resume this channel: {@link lastId}, or while a board gap is
     * open the oldest board version if that is earlier. The server sends a
     * fresh board only when its version is above `since`, and after a gap
     * the last id seen (the patch that did not fit) may equal the version;
     * over SSE, which cannot ask for `snapshot`, the patches after the
     * version come again. Events in between are replayed and dropped as
     * duplicates. @internal
     */
    get _resumeId() {
      let id = this.lastId;
      if (!this.snapshotWanted) return id;
      for (const v of this.keyed.views()) {
        const ver = this.keyed.get(v)?.version;
        if (isDecimalId(ver) && (id === void 0 || compareIds(ver, id) < 0)) id = ver;
      }
      return id;
    }
    /** Whether the application wants this subscription active. */
    get active() {
      return this.wanted;
    }
    /** Starts (or restarts, after an unsubscribe or a refusal) the subscription. */
    subscribe() {
      if (this.wanted) return;
      this.wanted = true;
      this.setState("subscribing");
      this.host.subscriptionWanted(this);
    }
    /** Stops the subscription. Its last id is kept, so a later subscribe resumes. */
    unsubscribe() {
      if (!this.wanted) return;
      this.wanted = false;
      this.setState("unsubscribed");
      this.emit("unsubscribed", { channel: this.channel, reason: "requested" });
      this.host.subscriptionDropped(this);
    }
    added(name) {
      this.onListen(name);
    }
    setState(s) {
      if (s === this.st) return;
      const old = this.st;
      this.st = s;
      this.emit("state", { channel: this.channel, oldState: old, newState: s });
      if (s === "subscribing") this.emit("subscribing", { channel: this.channel });
    }
    /** Sets the resume position to id (a decimal id) unless there is one already. @internal */
    _startAfter(id) {
      if (this.lastId === void 0) this.lastOther = id;
    }
    /** The client sent a subscribe; resume says whether it asked to resume. @internal */
    _sent(since, resume) {
      this.snapshotAsked = false;
      this.sentSince = since;
      this.sentResume = resume;
      this.setState("subscribing");
    }
    /** The transport went away; the client will resubscribe. @internal */
    _lost() {
      if (this.wanted) this.setState("subscribing");
    }
    /** The client sent a subscribe asking for fresh boards. @internal */
    _snapshotSent() {
      this.snapshotAsked = true;
    }
    /** The server confirmed the subscribe. @internal */
    _subscribed(recovered) {
      if (!this.wanted) return void 0;
      if (this.snapshotAsked && this.st === "subscribed") {
        this.snapshotAsked = false;
        if (recovered !== false) return void 0;
        const resync2 = { channel: this.channel, reason: "not_recovered", since: this.sentSince };
        this.emit("resync", resync2);
        return { ctx: { channel: this.channel, resumed: true, recovered }, resync: resync2 };
      }
      const again = this.confirmedBefore;
      const firstConfirm = this.st !== "subscribed";
      this.confirmedBefore = true;
      this.setState("subscribed");
      const ctx = { channel: this.channel, resumed: this.sentResume, recovered };
      if (!firstConfirm) return void 0;
      this.emit("subscribed", ctx);
      let resync;
      if (this.sentResume && recovered === false) {
        resync = { channel: this.channel, reason: "not_recovered", since: this.sentSince };
      } else if (this.sentResume && recovered === void 0) {
        resync = { channel: this.channel, reason: "no_resume_support", since: this.sentSince };
      } else if (!this.sentResume && again) {
        resync = { channel: this.channel, reason: "no_position" };
      }
      if (resync) this.emit("resync", resync);
      return { ctx, resync };
    }
    /** The server ended or refused the subscription. @internal */
    _ended(reason, err) {
      if (err) this.emit("error", err);
      if (!this.wanted) return;
      this.wanted = false;
      this.setState("unsubscribed");
      this.emit("unsubscribed", { channel: this.channel, reason });
    }
    /** Reports an error that does not end the subscription. @internal */
    _error(err) {
      this.emit("error", err);
    }
    /**
     * Delivers an event unless it was delivered before. Returns whether it was
     * delivered. @internal
     */
    _deliver(ev) {
      if (!this.wanted) return false;
      const isBoard = ev.type === EventType.ScoreboardUpdate || ev.type === EventType.ScoreboardPatch;
      if (isDecimalId(ev.id)) {
        const k = `${ev.type}\0${ev.view ?? ""}`;
        const mark = isBoard ? this.boardMarks.get(k) : this.lastOther;
        if (mark !== void 0 && compareIds(ev.id, mark) <= 0) return false;
        if (isBoard) this.boardMarks.set(k, ev.id);
        else this.lastOther = ev.id;
      }
      const change = isBoard ? this.keyed.handle(ev.type, ev.data, ev.id, ev.view, ev.base) : void 0;
      if (!reserved.has(ev.type)) this.emit(ev.type, ev);
      this.emit("event", ev);
      if (change) this.boardChanged(change, ev.id);
      return true;
    }
    boardChanged(change, id) {
      if (change.result === "gap" || change.result === "invalid") {
        if (!this.snapshotWanted) {
          this.snapshotWanted = true;
          this.host.boardsWanted(this);
        }
        return;
      }
      if (change.result === "board") this.snapshotWanted = false;
      if (change.result === "board" || change.result === "applied") {
        this.emit("board", { ...change, channel: this.channel, board: this.board, id });
      }
    }
  };

  // src/clock.ts
  var realClock = {
    now: () => Date.now(),
    setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
    clearTimeout: (h) => globalThis.clearTimeout(h)
  };

  // src/options.ts
  var defaults = {
    minReconnectDelay: 500,
    maxReconnectDelay: 2e4,
    pingInterval: 25e3,
    pongTimeout: 1e4,
    openTimeout: 1e4,
    tokenRefreshLead: 9e4,
    batch: true,
    transports: ["websocket", "sse"],
    wsFailuresBeforeFallback: 2,
    websocketRetryInterval: 6e4
  };
  function resolveOptions(options) {
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
      boards: options.boards
    };
  }

  // src/ticket.ts
  var TicketError = class extends Error {
    constructor(message, refusal) {
      super(message);
      this.refusal = refusal;
      this.name = "TicketError";
    }
  };
  async function fetchTicket(f, url, tokens) {
    let token = await tokens.forConnect();
    if (!token) return void 0;
    if (!f) throw new Error("no fetch function for the SSE ticket");
    const ask = (t) => f(url, { method: "POST", headers: { Authorization: `Bearer ${t}` } });
    let res = await ask(token);
    if (res.status === 401 && tokens.canRefresh) {
      tokens.markStale();
      token = await tokens.forConnect();
      if (!token) return void 0;
      res = await ask(token);
    }
    let body = {};
    try {
      body = await res.json();
    } catch {
    }
    if (!res.ok) {
      throw new TicketError(`HTTP ${res.status}`, {
        status: res.status,
        error: typeof body.error === "string" ? body.error : void 0,
        message: typeof body.message === "string" ? body.message : void 0
      });
    }
    if (typeof body.ticket !== "string") throw new Error("ticket reply without a ticket");
    return body.ticket;
  }

  // src/token.ts
  var connectMargin = 3e4;
  function jwtExpiry(token) {
    const parts = token.split(".");
    if (parts.length !== 3) return void 0;
    try {
      const b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
      const padded = b64 + "=".repeat((4 - b64.length % 4) % 4);
      const json = typeof atob === "function" ? atob(padded) : "";
      const claims = JSON.parse(json);
      if (typeof claims === "object" && claims !== null) {
        const exp = claims.exp;
        if (typeof exp === "number" && Number.isFinite(exp)) return exp;
      }
    } catch {
    }
    return void 0;
  }
  var TokenUnavailableError = class extends Error {
    constructor(cause) {
      super("getToken failed", { cause });
      this.name = "TokenUnavailableError";
    }
  };
  var TokenKeeper = class {
    constructor(getToken, clock, token) {
      this.getToken = getToken;
      this.clock = clock;
      this.stale = false;
      this.pending = null;
      if (token) this.set(token);
    }
    /** The current token, if any. */
    get token() {
      return this.current;
    }
    /** Unix seconds the token expires: from auth_success, else from its exp claim. */
    get expires() {
      return this.exp;
    }
    set expires(v) {
      this.exp = v;
    }
    /** Whether a fresh token can be had (getToken was given). */
    get canRefresh() {
      return !!this.getToken;
    }
    /** Replaces the token. */
    set(token) {
      this.current = token;
      this.exp = jwtExpiry(token);
      this.stale = false;
    }
    /** Marks the token as refused or expired: the next connect fetches a fresh one, when it can. */
    markStale() {
      if (this.getToken) this.stale = true;
    }
    /** Fetches a token with getToken, sharing one call among concurrent callers. */
    fetch() {
      const get = this.getToken;
      if (!get) return Promise.resolve(this.current);
      if (!this.pending) {
        this.pending = get().then(
          (t) => {
            this.pending = null;
            this.set(t);
            return t;
          },
          (err) => {
            this.pending = null;
            throw err;
          }
        );
      }
      return this.pending;
    }
    /**
     * The token to connect with: fetched first when missing, stale or about to
     * expire. Throws {@link TokenUnavailableError} when getToken fails.
     */
    async forConnect() {
      if (!this.getToken) return this.current;
      const expiring = this.exp !== void 0 && this.exp * 1e3 - this.clock.now() < connectMargin;
      if (!this.current || this.stale || expiring) {
        try {
          return await this.fetch();
        } catch (err) {
          throw new TokenUnavailableError(err);
        }
      }
      return this.current;
    }
  };

  // src/transport-sse.ts
  var CLOSED = 2;
  function sseUrl(p) {
    const q = new URLSearchParams();
    for (const c of p.channels) q.append("channel", c);
    if (p.ticket) q.set("ticket", p.ticket);
    if (p.lastEventId) q.set("last_event_id", p.lastEventId);
    if (p.boards) q.set("boards", p.boards);
    return `${p.url}${p.url.includes("?") ? "&" : "?"}${q.toString()}`;
  }
  async function readRefusal(fetchFn, url) {
    const ctl = typeof AbortController === "function" ? new AbortController() : void 0;
    const res = await fetchFn(url, { headers: { Accept: "text/event-stream" }, signal: ctl?.signal });
    if (res.ok) {
      ctl?.abort();
      return void 0;
    }
    const r = { status: res.status };
    try {
      const body = await res.json();
      if (typeof body.error === "string") r.error = body.error;
      if (typeof body.channel === "string") r.channel = body.channel;
      if (typeof body.message === "string") r.message = body.message;
    } catch {
    }
    return r;
  }
  function openEventSource(p, h) {
    const url = sseUrl(p);
    let done = false;
    let opened = false;
    const finish = (code, reason, refusal) => {
      if (done) return;
      done = true;
      try {
        es?.close();
      } catch {
      }
      h.close({ code, reason, opened, refusal });
    };
    const onData = (ev) => {
      if (done) return;
      if (typeof ev.data !== "string") return;
      let m;
      try {
        m = JSON.parse(ev.data);
      } catch {
        h.badFrame(1);
        return;
      }
      if (typeof m === "object" && m !== null && typeof m.type === "string") {
        h.message(m);
      } else {
        h.badFrame(1);
      }
    };
    const listened = /* @__PURE__ */ new Set();
    const listen = (type) => {
      if (!es || listened.has(type)) return;
      listened.add(type);
      es.addEventListener(type, onData);
    };
    let es = null;
    try {
      es = new p.EventSource(url);
    } catch (err) {
      queueMicrotask(() => finish(LocalCode.TransportClosed, `EventSource constructor failed: ${String(err)}`));
    }
    if (es) {
      listen("message");
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
          finish(LocalCode.TransportClosed, "stream ended");
          return;
        }
        const source = es;
        if (source && source.readyState !== CLOSED) source.close();
        if (!p.fetch) {
          finish(LocalCode.TransportClosed, "stream failed");
          return;
        }
        readRefusal(p.fetch, url).then(
          (r) => {
            if (r) finish(LocalCode.StreamRefused, r.message ?? r.error ?? `HTTP ${r.status}`, r);
            else finish(LocalCode.TransportClosed, "stream failed");
          },
          () => finish(LocalCode.TransportClosed, "stream failed")
        );
      };
    }
    return {
      name: "sse",
      send: () => false,
      close() {
        done = true;
        if (!es) return;
        es.onopen = null;
        es.onerror = null;
        try {
          es.close();
        } catch {
        }
      },
      listen
    };
  }

  // src/frames.ts
  function isObject(v) {
    return typeof v === "object" && v !== null && !Array.isArray(v);
  }
  function parseFrame(text) {
    const out = { messages: [], bad: 0 };
    try {
      const v = JSON.parse(text);
      if (isObject(v)) out.messages.push(v);
      else out.bad++;
      return out;
    } catch {
    }
    for (const line of text.split("\n")) {
      if (line.trim() === "") continue;
      try {
        const v = JSON.parse(line);
        if (isObject(v)) out.messages.push(v);
        else out.bad++;
      } catch {
        out.bad++;
      }
    }
    return out;
  }

  // src/transport-ws.ts
  var OPEN = 1;
  function openWebSocket(Ctor, url, h) {
    let done = false;
    let ws = null;
    const finish = (code, reason, opened2) => {
      if (done) return;
      done = true;
      h.close({ code, reason, opened: opened2 });
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
        if (typeof ev.data !== "string") {
          h.badFrame(1);
          return;
        }
        const { messages, bad } = parseFrame(ev.data);
        if (bad > 0) h.badFrame(bad);
        for (const m of messages) {
          if (done) return;
          if (typeof m.type === "string") h.message(m);
          else h.badFrame(1);
        }
      };
      ws.onclose = (ev) => {
        const code = typeof ev.code === "number" && ev.code > 0 ? ev.code : LocalCode.TransportClosed;
        finish(code, ev.reason || (opened ? "connection closed" : "connection failed"), opened);
      };
      ws.onerror = () => {
      };
    }
    return {
      name: "websocket",
      send(msg) {
        if (done || !ws || ws.readyState !== OPEN) return false;
        try {
          ws.send(JSON.stringify(msg));
          return true;
        } catch {
          return false;
        }
      },
      close() {
        done = true;
        if (!ws) return;
        ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
        try {
          ws.close(1e3, "client closed");
        } catch {
        }
      },
      listen() {
      }
    };
  }

  // src/urls.ts
  function eventUrls(url) {
    const base = typeof location !== "undefined" && location ? location.href : void 0;
    const u = new URL(url, base);
    u.search = "";
    u.hash = "";
    if (!u.pathname.endsWith("/")) u.pathname += "/";
    const secure = u.protocol === "wss:" || u.protocol === "https:";
    const rest = `//${u.host}${u.pathname}`;
    const http = `${secure ? "https:" : "http:"}${rest}`;
    return { ws: `${secure ? "wss:" : "ws:"}${rest}`, http, ticket: `${http}ticket` };
  }

  // src/client.ts
  var reservedNames = /* @__PURE__ */ new Set([
    "state",
    "connecting",
    "connected",
    "disconnected",
    "authenticated",
    "error",
    "subscribed",
    "unsubscribed",
    "resync",
    "event",
    "message"
  ]);
  var ArenacastClient = class extends Emitter {
    /** Creates a client; it does not connect until {@link connect} is called. */
    constructor(options) {
      super();
      this.subs = /* @__PURE__ */ new Map();
      this.st = "disconnected";
      this.conn = null;
      this.probe = null;
      this.refreshFailures = 0;
      this.authSeq = 0;
      this.wsFailures = 0;
      this.sseRestartQueued = false;
      this.opts = resolveOptions(options);
      this.urls = eventUrls(options.url);
      this.clock = this.opts.clock;
      this.backoff = new Backoff(this.opts.minReconnectDelay, this.opts.maxReconnectDelay, this.opts.random);
      this.tokens = new TokenKeeper(options.getToken, this.clock, options.token);
    }
    /** The connection state. */
    get state() {
      return this.st;
    }
    /** The transport of the open connection, if one is open. */
    get transport() {
      return this.conn?.opened ? this.conn.name : void 0;
    }
    /** Starts connecting. Does nothing unless the client is disconnected. */
    connect() {
      if (this.st !== "disconnected") return;
      this.setState("connecting");
      this.emit("connecting", { code: LocalCode.DisconnectCalled, reason: "connect called" });
      this.startAttempt();
    }
    /** Closes the connection and stops reconnecting. Subscriptions are kept and resume on the next {@link connect}. */
    disconnect() {
      if (this.st === "disconnected") return;
      this.stop(LocalCode.DisconnectCalled, "disconnect called");
    }
    /** The user the server authenticated (`auth_success.user`), if any. */
    get user() {
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
    subscribe(channel, options = {}) {
      if (options.since !== void 0 && !isDecimalId(options.since)) {
        throw new TypeError(`since: ${JSON.stringify(options.since)} is not an event id`);
      }
      let sub = this.subs.get(channel);
      if (!sub) {
        sub = new Subscription(channel, this, (type) => this.listenType(type));
        this.subs.set(channel, sub);
      }
      sub._configure(options);
      if (options.since !== void 0) sub._startAfter(options.since);
      sub.subscribe();
      return sub;
    }
    /** Returns the subscription to channel, if there is one. */
    getSubscription(channel) {
      return this.subs.get(channel);
    }
    /** Unsubscribes and forgets the subscription, including its last event id. */
    removeSubscription(sub) {
      sub.unsubscribe();
      sub.removeAllListeners();
      if (this.subs.get(sub.channel) === sub) this.subs.delete(sub.channel);
    }
    /** Replaces the token; when connected over WebSocket it is sent at once (`auth` again refreshes). */
    setToken(token) {
      this.tokens.set(token);
      const c = this.conn;
      if (c?.opened && c.name === "websocket") this.sendAuth(c);
    }
    // ---- SubscriptionHost ----
    /** @internal */
    subscriptionWanted(sub) {
      const c = this.conn;
      if (this.st === "disconnected" || !c) return;
      if (c.name === "websocket") {
        if (c.opened) this.sendSubscribe(c, sub);
        return;
      }
      this.queueSseRestart();
    }
    /** @internal */
    subscriptionDropped(sub) {
      const c = this.conn;
      if (!c) return;
      if (c.name === "websocket") {
        if (c.opened) c.transport?.send({ type: "unsubscribe", channel: sub.channel });
        return;
      }
      this.queueSseRestart();
    }
    /** @internal */
    boardsWanted(sub) {
      const c = this.conn;
      if (this.st === "disconnected" || !c || !c.opened || !sub.active) return;
      if (c.name === "websocket") {
        c.transport?.send({ type: "unsubscribe", channel: sub.channel });
        this.sendSubscribe(c, sub, true);
        return;
      }
      this.queueSseRestart();
    }
    boardsMode(sub) {
      return sub.boardsMode ?? this.opts.boards;
    }
    added(name) {
      this.listenType(name);
    }
    // ---- state ----
    setState(s) {
      if (s === this.st) return;
      const old = this.st;
      this.st = s;
      this.emit("state", { oldState: old, newState: s });
    }
    setConnected(name) {
      if (this.st === "connected") return;
      this.setState("connected");
      this.emit("connected", { transport: name });
    }
    /** Stops for good: disconnect() or a terminal close code. */
    stop(code, reason) {
      this.clear(this.reconnectTimer);
      this.clear(this.refreshTimer);
      this.reconnectTimer = this.refreshTimer = void 0;
      this.dropProbe();
      const c = this.conn;
      this.conn = null;
      if (c) {
        c.transport?.close();
        this.clearConn(c);
      }
      for (const sub of this.subs.values()) sub._lost();
      this.setState("disconnected");
      this.emit("disconnected", { code, reason });
    }
    clear(h) {
      if (h !== void 0) this.clock.clearTimeout(h);
    }
    clearConn(c) {
      this.clear(c.openTimer);
      this.clear(c.pingTimer);
      this.clear(c.pongTimer);
      c.openTimer = c.pingTimer = c.pongTimer = void 0;
    }
    wsCtor() {
      if (!this.opts.transports.includes("websocket")) return void 0;
      return this.opts.WebSocket ?? globalThis.WebSocket;
    }
    esCtor() {
      if (!this.opts.transports.includes("sse")) return void 0;
      return this.opts.EventSource ?? globalThis.EventSource;
    }
    fetchFn() {
      if (this.opts.fetch) return this.opts.fetch;
      const f = globalThis.fetch;
      return f ? (input, init) => f(input, init) : void 0;
    }
    // ---- attempts ----
    startAttempt() {
      this.reconnectTimer = void 0;
      if (this.st === "disconnected") return;
      const ws = this.wsCtor();
      const es = this.esCtor();
      if (!ws && !es) {
        this.stop(LocalCode.NoTransport, "neither WebSocket nor EventSource is available");
        return;
      }
      const useWs = !!ws && !(es && this.wsFailures >= this.opts.wsFailuresBeforeFallback);
      const conn = { name: useWs ? "websocket" : "sse", transport: null, opened: false, authRetried: false };
      this.conn = conn;
      if (useWs && ws) void this.openWs(conn, ws);
      else if (es) void this.openSse(conn, es);
    }
    scheduleReconnect(delay = this.backoff.next()) {
      this.clear(this.reconnectTimer);
      this.reconnectTimer = this.clock.setTimeout(() => this.startAttempt(), delay);
    }
    transportHandlers(conn) {
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
          else if (this.conn === conn) this.lost(conn, info, "transport");
        },
        badFrame: (count) => {
          if (this.conn === conn) this.emit("error", { source: "frame", message: `skipped ${count} malformed frame(s)` });
        }
      };
    }
    async openWs(conn, Ctor) {
      try {
        await this.tokens.forConnect();
      } catch (err) {
        if (this.conn !== conn) return;
        this.emit("error", { source: "token", message: "getToken failed", cause: err });
        this.lost(conn, { code: LocalCode.TokenUnavailable, reason: "getToken failed", opened: false }, "other");
        return;
      }
      if (this.conn !== conn) return;
      const url = this.opts.batch ? `${this.urls.ws}?batch=1` : this.urls.ws;
      conn.transport = openWebSocket(Ctor, url, this.transportHandlers(conn));
      conn.openTimer = this.clock.setTimeout(() => {
        conn.openTimer = void 0;
        if (this.conn !== conn || conn.opened) return;
        conn.transport?.close();
        this.lost(conn, { code: LocalCode.OpenTimeout, reason: "WebSocket open timeout", opened: false }, "transport");
      }, this.opts.openTimeout);
    }
    async openSse(conn, Ctor) {
      const subs = [...this.subs.values()].filter((s) => s.active);
      if (subs.length === 0) return;
      let ticket;
      if (subs.some((s) => !s.channel.startsWith("/scoreboard/"))) {
        try {
          ticket = await fetchTicket(this.fetchFn(), this.urls.ticket, this.tokens);
        } catch (err) {
          if (this.conn !== conn) return;
          const refusal = err instanceof TicketError ? err.refusal : void 0;
          const source = refusal?.status === 401 ? "auth" : "transport";
          this.emit("error", { source, code: refusal?.error, message: `SSE ticket: ${String(err?.message ?? err)}`, cause: err });
          const fault = refusal || err instanceof TokenUnavailableError ? "other" : "transport";
          this.lost(conn, { code: refusal ? LocalCode.StreamRefused : LocalCode.TransportClosed, reason: "ticket request failed", opened: false }, fault);
          return;
        }
        if (this.conn !== conn) return;
      }
      let lastEventId;
      for (const s of subs) {
        const id = s._resumeId;
        if (id !== void 0 && (lastEventId === void 0 || compareIds(id, lastEventId) < 0)) lastEventId = id;
      }
      for (const s of subs) s._sent(lastEventId, lastEventId !== void 0);
      const modes = subs.map((s) => this.boardsMode(s));
      const boards = modes.includes("patch") ? "patch" : modes.includes("full") ? "full" : void 0;
      conn.transport = openEventSource(
        {
          url: this.urls.http,
          channels: subs.map((s) => s.channel),
          ticket,
          lastEventId,
          boards,
          types: this.allTypes(),
          EventSource: Ctor,
          fetch: this.fetchFn()
        },
        this.transportHandlers(conn)
      );
    }
    opened(conn) {
      this.clear(conn.openTimer);
      conn.openTimer = void 0;
      conn.opened = true;
      if (conn.name === "websocket") {
        this.wsFailures = 0;
        this.setConnected("websocket");
        this.handshake(conn);
      } else {
        this.setConnected("sse");
        this.startProbeTimer();
      }
    }
    /** Sends auth and every subscription over a freshly opened WebSocket, then starts the heartbeat. */
    handshake(conn) {
      if (this.tokens.token) this.sendAuth(conn);
      for (const sub of this.subs.values()) if (sub.active) this.sendSubscribe(conn, sub);
      this.schedulePing(conn);
    }
    sendAuth(conn) {
      const token = this.tokens.token;
      if (!token) return;
      conn.authId = `auth-${++this.authSeq}`;
      conn.transport?.send({ type: "auth", token, id: conn.authId });
    }
    /**
     * Sends a subscribe: with `since` when the subscription has a position,
     * `boards` when a mode is set, and `snapshot:true` after a board gap.
     * fresh: only fresh boards are asked for, the subscription stays as it is.
     */
    sendSubscribe(conn, sub, fresh = false) {
      const since = sub._resumeId;
      const msg = { type: "subscribe", channel: sub.channel };
      if (since !== void 0) msg.since = since;
      const boards = this.boardsMode(sub);
      if (boards !== void 0) msg.boards = boards;
      if (since !== void 0 && sub.snapshotWanted) msg.snapshot = true;
      if (fresh && sub.state === "subscribed") sub._snapshotSent();
      else sub._sent(since, since !== void 0);
      conn.transport?.send(msg);
    }
    /** Handles the end of the current attempt or connection. */
    lost(conn, info, fault) {
      if (this.conn !== conn) return;
      this.conn = null;
      this.clearConn(conn);
      conn.transport?.close();
      this.dropProbe();
      this.clear(this.refreshTimer);
      this.refreshTimer = void 0;
      for (const sub of this.subs.values()) sub._lost();
      if (isTerminalClose(info.code)) {
        this.stop(info.code, info.reason);
        return;
      }
      if (conn.name === "websocket" && !info.opened && fault === "transport") this.wsFailures++;
      if (conn.name === "sse" && !info.opened && fault === "transport" && !info.refusal) {
        this.wsFailures = 0;
      }
      if (info.code === CloseCode.TokenExpired) this.tokens.markStale();
      if (this.st === "connected") {
        this.setState("connecting");
        this.emit("connecting", { code: info.code, reason: info.reason });
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
    onRefusal(r) {
      if (r.status === 401) {
        this.tokens.markStale();
        this.emit("error", { source: "auth", code: r.error ?? ErrorCode.Unauthorized, message: r.message ?? "stream refused" });
        return false;
      }
      const sub = r.channel ? this.subs.get(r.channel) : void 0;
      if (sub?.active) {
        const err = { source: "subscribe", code: r.error, message: r.message ?? `HTTP ${r.status}`, channel: r.channel };
        sub._ended("error", err);
        this.emit("error", err);
        this.emit("unsubscribed", { channel: sub.channel, reason: "error" });
        return true;
      }
      this.emit("error", { source: "transport", code: r.error, message: r.message ?? `HTTP ${r.status}` });
      return false;
    }
    // ---- messages ----
    onMessage(conn, msg) {
      if (conn.pongTimer !== void 0) {
        this.clear(conn.pongTimer);
        conn.pongTimer = void 0;
      }
      this.emit("message", msg);
      const channel = typeof msg.channel === "string" ? msg.channel : void 0;
      switch (msg.type) {
        case ReplyType.Pong:
          return;
        case ReplyType.AuthSuccess: {
          this.backoff.reset();
          conn.retries?.delete("auth");
          if (typeof msg.expires === "number") this.tokens.expires = msg.expires;
          if (typeof msg.user === "string" && msg.user !== "") this.me = msg.user;
          this.scheduleRefresh();
          this.emit("authenticated", { user: String(msg.user ?? ""), expires: this.tokens.expires });
          return;
        }
        case ReplyType.Subscribed: {
          this.backoff.reset();
          if (channel) conn.retries?.delete(channel);
          const sub2 = channel ? this.subs.get(channel) : void 0;
          const r = sub2?._subscribed(typeof msg.recovered === "boolean" ? msg.recovered : void 0);
          if (r) {
            this.emit("subscribed", r.ctx);
            if (r.resync) this.emit("resync", r.resync);
          }
          return;
        }
        case ReplyType.Unsubscribed: {
          const reason = typeof msg.reason === "string" ? msg.reason : UnsubscribeReason.Requested;
          const sub2 = channel ? this.subs.get(channel) : void 0;
          if (sub2?.active && reason !== UnsubscribeReason.Requested) {
            sub2._ended(reason);
            this.emit("unsubscribed", { channel: sub2.channel, reason });
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
      const ev = {
        type: msg.type,
        channel,
        id: typeof msg.id === "string" ? msg.id : typeof msg.id === "number" ? String(msg.id) : void 0,
        timestamp: typeof msg.timestamp === "number" ? msg.timestamp : void 0,
        data: msg.data
      };
      if (msg.snapshot === true) ev.snapshot = true;
      if (typeof msg.view === "string") ev.view = msg.view;
      if (typeof msg.base === "string") ev.base = msg.base;
      else if (typeof msg.base === "number") ev.base = String(msg.base);
      if (typeof msg.jitter_ms === "number" && msg.jitter_ms > 0) ev.jitterMs = msg.jitter_ms;
      if (!sub._deliver(ev)) return;
      if (!reservedNames.has(ev.type)) this.emit(ev.type, ev);
      this.emit("event", ev);
    }
    onServerError(conn, msg, channel) {
      const code = typeof msg.error === "string" ? msg.error : "";
      const message = typeof msg.message === "string" ? msg.message : code;
      if (code === ErrorCode.TokenExpired) {
        this.emit("error", { source: "token", code, message });
        if (this.opts.getToken) void this.refreshToken();
        return;
      }
      if (channel) {
        const sub = this.subs.get(channel);
        const err = { source: "subscribe", code, message, channel };
        if (code === ErrorCode.RateLimited && !sub?.active) {
          this.emit("error", err);
          this.retryLater(conn, channel, () => {
            if (!this.subs.get(channel)?.active) conn.transport?.send({ type: "unsubscribe", channel });
          });
          return;
        }
        if (code === ErrorCode.Internal || code === ErrorCode.RateLimited) {
          sub?._error(err);
          this.emit("error", err);
          if (sub) this.retrySubscribe(conn, sub);
          return;
        }
        if (sub?.active) {
          sub._ended("error", err);
          this.emit("error", err);
          this.emit("unsubscribed", { channel, reason: "error" });
        } else {
          this.emit("error", err);
        }
        return;
      }
      const id = typeof msg.id === "string" ? msg.id : void 0;
      if (code === ErrorCode.RateLimited && id !== void 0 && id === conn.authId) {
        this.emit("error", { source: "auth", code, message });
        this.retryLater(conn, "auth", () => {
          if (conn.authId === id) this.sendAuth(conn);
        });
        return;
      }
      if (code === ErrorCode.Unauthorized && (id === void 0 || id === conn.authId)) {
        this.emit("error", { source: "auth", code, message });
        if (this.opts.getToken && !conn.authRetried) {
          conn.authRetried = true;
          this.tokens.markStale();
          void this.refreshToken();
        }
        return;
      }
      this.emit("error", { source: "server", code, message });
    }
    retrySubscribe(conn, sub) {
      this.retryLater(conn, sub.channel, () => {
        if (sub.active && sub.state === "subscribing") this.sendSubscribe(conn, sub);
      });
    }
    /**
     * Runs resend on conn (an open WebSocket) after a backoff that grows with
     * each retry of key on that connection, so that messages the server
     * dropped for its rate come back spread out rather than in one burst.
     */
    retryLater(conn, key, resend) {
      if (conn.name !== "websocket") return;
      conn.retries ?? (conn.retries = /* @__PURE__ */ new Map());
      const attempt = (conn.retries.get(key) ?? 0) + 1;
      conn.retries.set(key, attempt);
      const delay = backoffDelay(attempt, this.opts.minReconnectDelay, this.opts.maxReconnectDelay, this.opts.random);
      this.clock.setTimeout(() => {
        if (this.conn === conn && conn.opened) resend();
      }, delay);
    }
    // ---- tokens ----
    /** Gets a fresh token and, on an open WebSocket, sends it. */
    async refreshToken() {
      this.clear(this.refreshTimer);
      this.refreshTimer = void 0;
      try {
        await this.tokens.fetch();
      } catch (err) {
        this.emit("error", { source: "token", message: "getToken failed", cause: err });
        const delay = backoffDelay(this.refreshFailures++, this.opts.minReconnectDelay, this.opts.maxReconnectDelay, this.opts.random);
        if (this.st !== "disconnected") this.refreshTimer = this.clock.setTimeout(() => void this.refreshToken(), delay);
        return;
      }
      this.refreshFailures = 0;
      const c = this.conn;
      if (c?.opened && c.name === "websocket") this.sendAuth(c);
    }
    scheduleRefresh() {
      this.clear(this.refreshTimer);
      this.refreshTimer = void 0;
      const expires = this.tokens.expires;
      if (!this.tokens.canRefresh || expires === void 0) return;
      const remaining = expires * 1e3 - this.clock.now();
      const delay = Math.max(1e3, remaining - this.opts.tokenRefreshLead, remaining / 2);
      this.refreshTimer = this.clock.setTimeout(() => void this.refreshToken(), delay);
    }
    // ---- heartbeat ----
    schedulePing(conn) {
      conn.pingTimer = this.clock.setTimeout(() => {
        conn.pingTimer = void 0;
        if (this.conn !== conn) return;
        conn.transport?.send({ type: "ping" });
        if (conn.pongTimer === void 0) {
          conn.pongTimer = this.clock.setTimeout(() => {
            conn.pongTimer = void 0;
            if (this.conn !== conn) return;
            conn.transport?.close();
            this.lost(conn, { code: LocalCode.NoPong, reason: "no pong", opened: true }, "other");
          }, this.opts.pongTimeout);
        }
        this.schedulePing(conn);
      }, this.opts.pingInterval);
    }
    // ---- SSE specifics ----
    allTypes() {
      const types = new Set(Object.values(EventType));
      for (const t of this.opts.eventTypes ?? []) types.add(t);
      for (const n of this.eventNames()) if (!reservedNames.has(n)) types.add(n);
      for (const sub of this.subs.values()) for (const n of sub.eventNames()) types.add(n);
      return types;
    }
    listenType(type) {
      if (reservedNames.has(type)) return;
      this.conn?.transport?.listen(type);
    }
    /** Restarts the SSE stream (once per task) after its channel set changed. */
    queueSseRestart() {
      if (this.sseRestartQueued) return;
      this.sseRestartQueued = true;
      queueMicrotask(() => {
        this.sseRestartQueued = false;
        const c = this.conn;
        const es = this.esCtor();
        if (!c || c.name !== "sse" || !es || this.st === "disconnected") return;
        c.transport?.close();
        this.clearConn(c);
        this.dropProbe();
        for (const sub of this.subs.values()) sub._lost();
        const next = { name: "sse", transport: null, opened: false, authRetried: false };
        this.conn = next;
        void this.openSse(next, es);
      });
    }
    startProbeTimer() {
      this.clear(this.probeTimer);
      this.probeTimer = void 0;
      if (this.opts.websocketRetryInterval <= 0 || !this.wsCtor()) return;
      this.probeTimer = this.clock.setTimeout(() => this.runProbe(), this.opts.websocketRetryInterval);
    }
    /** While on SSE, tries a WebSocket in the background; it replaces the stream if it opens. */
    runProbe() {
      this.probeTimer = void 0;
      const c = this.conn;
      const Ctor = this.wsCtor();
      if (!c || c.name !== "sse" || !c.opened || !Ctor || this.probe) return;
      const p = { name: "websocket", transport: null, opened: false, authRetried: false };
      this.probe = p;
      const url = this.opts.batch ? `${this.urls.ws}?batch=1` : this.urls.ws;
      p.transport = openWebSocket(Ctor, url, this.transportHandlers(p));
      p.openTimer = this.clock.setTimeout(() => {
        p.openTimer = void 0;
        if (this.probe !== p) return;
        p.transport?.close();
        this.probeFailed(p);
      }, this.opts.openTimeout);
    }
    probeFailed(p) {
      if (this.probe !== p) return;
      this.probe = null;
      this.clearConn(p);
      this.startProbeTimer();
    }
    dropProbe() {
      this.clear(this.probeTimer);
      this.probeTimer = void 0;
      const p = this.probe;
      this.probe = null;
      if (p) {
        p.transport?.close();
        this.clearConn(p);
      }
    }
    /** A background WebSocket opened: it replaces the SSE stream and resumes every channel by id. */
    adoptProbe(p) {
      this.probe = null;
      this.clear(p.openTimer);
      p.openTimer = void 0;
      const old = this.conn;
      if (old) {
        old.transport?.close();
        this.clearConn(old);
      }
      for (const sub of this.subs.values()) sub._lost();
      this.conn = p;
      p.opened = true;
      this.wsFailures = 0;
      this.setState("connected");
      this.emit("connected", { transport: "websocket" });
      this.handshake(p);
    }
  };

  // demo/main.ts
  var $ = (sel) => document.querySelector(sel);
  async function fetchConfig() {
    const r = await fetch("config.json", { cache: "no-store" });
    if (!r.ok) throw new Error(`config.json answered ${r.status}`);
    return await r.json();
  }
  function showState(client, id) {
    const el2 = $(`#${id}`);
    const text = el2.querySelector("span");
    const show = () => {
      el2.dataset.state = client.state;
      text.textContent = client.state === "connected" ? `connected · ${client.transport ?? ""}` : client.state;
    };
    client.on("state", show);
    client.on("connected", show);
    client.on("disconnected", ({ code, reason }) => text.textContent = `disconnected (${code} ${reason})`);
    show();
  }
  var plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;
  function renderPresence(p) {
    const el2 = $("#presence");
    el2.textContent = `Watching now: ${plural(p.contestants.connections, "contestant connection", "contestant connections")} (${plural(p.contestants.users, "user", "users")}), ${plural(p.admins.connections, "admin connection", "admin connections")}, ${plural(p.viewers.connections, "scoreboard viewer", "scoreboard viewers")} · ${plural(p.nodes, "node", "nodes")}${p.approximate ? " (approximate)" : ""}`;
    el2.dataset.viewers = String(p.viewers.connections);
    el2.dataset.admins = String(p.admins.connections);
  }
  var letter = (i) => String.fromCharCode(65 + i);
  var letters = /* @__PURE__ */ new Map();
  var problemName = (alias) => {
    const l = alias === void 0 ? void 0 : letters.get(alias);
    return l ? `${l} ${alias}` : alias ?? "?";
  };
  var shownProblems = "";
  var shownRows = /* @__PURE__ */ new Map();
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== void 0) e.textContent = text;
    return e;
  }
  function renderHead(problems) {
    const key = problems.join(",");
    if (key === shownProblems) return;
    shownProblems = key;
    letters.clear();
    problems.forEach((alias, i) => letters.set(alias, letter(i)));
    const legend = problems.map((alias, i) => `${letter(i)} ${alias}`).join(" · ");
    $("#problems").textContent = `Problems: ${legend}`;
    const tr = el("tr");
    tr.append(el("th", "num", "#"), el("th", "", "User"));
    problems.forEach((alias, i) => {
      const th = el("th", "p", letter(i));
      th.title = alias;
      tr.append(th);
    });
    tr.append(el("th", "num", "Solved"), el("th", "num", "Penalty"));
    $("#scoreboard thead").replaceChildren(tr);
  }
  function renderCell(alias, c) {
    const td = el("td", "p");
    td.title = alias;
    if (!c) return td;
    if (c.solved) {
      td.classList.add("ok");
      const s = el("span", "", c.attempts > 1 ? `+${c.attempts - 1}` : "+");
      s.append(el("small", "", `${c.minute ?? 0}'`));
      td.append(s);
    } else if (c.attempts > 0) {
      td.classList.add("bad");
      td.append(el("span", "", `−${c.attempts}`));
    }
    return td;
  }
  function renderRow(r, problems, moved) {
    const tr = el("tr", moved ? "moved" : void 0);
    tr.dataset.user = r.username;
    tr.append(el("td", "num"), el("td", "user", r.username));
    for (const alias of problems) tr.append(renderCell(alias, r.cells?.[alias]));
    tr.append(el("td", "num", String(r.solved)), el("td", "num", String(r.penalty)));
    return tr;
  }
  function renderBoard(board) {
    const problems = Array.isArray(board.data.problems) ? board.data.problems : [];
    const headChanged = problems.join(",") !== shownProblems;
    renderHead(problems);
    const next = /* @__PURE__ */ new Map();
    const rows = board.rows;
    const trs = rows.map((r) => {
      const had = shownRows.get(r.username);
      const keep = had && had.row === r && !headChanged;
      const tr = keep ? had.tr : renderRow(r, problems, had !== void 0 && had.row !== r);
      if (keep) tr.classList.remove("moved");
      next.set(r.username, { row: r, tr });
      return tr;
    });
    rows.forEach((r, i) => {
      const prev = rows[i - 1];
      const place = prev && prev.solved === r.solved && prev.penalty === r.penalty ? trs[i - 1]?.firstChild?.textContent ?? "" : String(i + 1);
      const td = trs[i]?.firstChild;
      if (td.textContent !== place) td.textContent = place;
    });
    shownRows = next;
    const body = $("#scoreboard tbody");
    trs.forEach((tr, i) => {
      if (body.children[i] !== tr) body.insertBefore(tr, body.children[i] ?? null);
    });
    while (body.children.length > trs.length) body.lastElementChild?.remove();
    $("#minute").textContent = `minute ${String(board.data.minute ?? 0)}`;
  }
  var maxFeed = 40;
  function ordinal(n) {
    const s = n % 100 >= 11 && n % 100 <= 13 ? "th" : ["th", "st", "nd", "rd"][n % 10] ?? "th";
    return `${n}${s}`;
  }
  function summary(ev) {
    const d = ev.data ?? {};
    switch (ev.type) {
      case "run_update":
        if (d.status === "new") return [document.createTextNode(`${d.username} submitted ${problemName(d.problem)} (${d.language})`), el("span", "private", "private")];
        return [
          document.createTextNode(`${d.username} · ${problemName(d.problem)}: `),
          el("span", `v-${d.verdict}`, d.verdict ?? "?"),
          document.createTextNode(d.runtime_ms ? ` (${d.runtime_ms} ms)` : ""),
          el("span", "private", "private")
        ];
      case "scoreboard_update":
        return [document.createTextNode("new scoreboard")];
      case "scoreboard_patch": {
        const p = ev.data;
        const moved = /* @__PURE__ */ new Map();
        for (const m of p?.order ?? []) for (const [k, i] of Object.entries(m)) moved.set(k, i);
        const parts = Object.entries(p?.rows ?? {}).map(([user, r]) => {
          const at = moved.get(user);
          const where = at === void 0 ? "" : `, up to ${ordinal(at + 1)}`;
          return r ? `${user}: ${r.solved} solved, ${r.penalty} penalty${where}` : `${user} left`;
        });
        return [document.createTextNode(parts.join("; ") || "scoreboard")];
      }
      case "clarification":
        return [document.createTextNode(`${problemName(d.problem)}: “${d.message}” — ${d.answer}`)];
      case "contest_update":
        return [document.createTextNode(d.message ?? d.event ?? "")];
    }
    return [document.createTextNode(JSON.stringify(ev.data).slice(0, 120))];
  }
  function addFeed(type, when, nodes, id) {
    const li = el("li", `t-${type}`);
    if (id) li.dataset.id = id;
    const t = el("time", "", when.toLocaleTimeString([], { hour12: false }));
    const sum = el("span", "sum");
    sum.append(...nodes);
    li.append(t, el("span", "type", type), sum);
    const feed = $("#feed");
    feed.prepend(li);
    while (feed.children.length > maxFeed) feed.lastElementChild?.remove();
  }
  async function main() {
    const cfg = await fetchConfig();
    $("#contest").textContent = cfg.contest;
    renderHead(cfg.problems ?? []);
    const board = new ArenacastClient({ url: cfg.events_url, boards: "patch" });
    showState(board, "conn-board");
    const follow = (token) => {
      const sub = board.subscribe(`/scoreboard/${token}`);
      sub.on("board", ({ board: b }) => {
        if (b) renderBoard(b);
      });
      sub.on("contest_update", (ev) => {
        const m = ev.data?.message;
        if (m) $("#round").textContent = m;
      });
      sub.on("unsubscribed", async ({ reason }) => {
        if (reason !== "expired") return;
        board.removeSubscription(sub);
        follow((await fetchConfig()).scoreboard_token);
      });
      return sub;
    };
    follow(cfg.scoreboard_token);
    board.connect();
    const feed = new ArenacastClient({
      url: cfg.events_url,
      boards: "patch",
      token: cfg.viewer_token,
      getToken: async () => (await fetchConfig()).viewer_token
    });
    showState(feed, "conn-feed");
    const contest = feed.subscribe(`/contest/${cfg.contest}`, cfg.feed_since ? { since: cfg.feed_since } : {});
    contest.on("event", (ev) => {
      const when = ev.timestamp ? new Date(ev.timestamp * 1e3) : /* @__PURE__ */ new Date();
      addFeed(ev.type, when, summary(ev), ev.id);
    });
    const admin = feed.subscribe(`/contest/${cfg.contest}/admin`);
    admin.on("presence", (ev) => renderPresence(ev.data));
    contest.on("resync", () => addFeed("resync", /* @__PURE__ */ new Date(), [document.createTextNode("events may have been missed")]));
    feed.on("error", (e) => {
      if (e.source !== "server" || e.code !== "token_expired") console.warn("arenacast:", e.code ?? e.source, e.message);
    });
    feed.connect();
  }
  main().catch((err) => {
    console.error(err);
    addFeed("error", /* @__PURE__ */ new Date(), [document.createTextNode(String(err))]);
  });
})();
