// Test doubles for the browser APIs the client uses (WebSocket, EventSource,
// fetch) and a manual clock. They stand in for the browser only; the real
// server is exercised by the browser tests.

/** Lets every pending promise callback run. */
export function flush() {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A clock whose time moves only when advance() is called. */
export class FakeClock {
  constructor(start = 1_700_000_000_000) {
    this.t = start;
    this.seq = 0;
    this.timers = new Map();
  }
  now() {
    return this.t;
  }
  setTimeout(fn, ms) {
    const id = ++this.seq;
    this.timers.set(id, { fn, due: this.t + Math.max(0, ms), id });
    return id;
  }
  clearTimeout(id) {
    this.timers.delete(id);
  }
  /** Runs every timer due within ms, in order, letting promises settle after each. */
  async advance(ms) {
    const end = this.t + ms;
    await flush();
    for (;;) {
      let next;
      for (const t of this.timers.values()) {
        if (t.due <= end && (!next || t.due < next.due || (t.due === next.due && t.id < next.id))) next = t;
      }
      if (!next) break;
      this.timers.delete(next.id);
      this.t = next.due;
      next.fn();
      await flush();
    }
    this.t = end;
    await flush();
  }
  /** Delays of the pending timers, relative to now. */
  pending() {
    return [...this.timers.values()].map((t) => t.due - this.t).sort((a, b) => a - b);
  }
}

/** Returns a fake WebSocket class and the list of sockets it made. */
export function makeWebSocket() {
  const sockets = [];
  class FakeWebSocket {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.sent = [];
      this.onopen = this.onmessage = this.onclose = this.onerror = null;
      this.closedByClient = false;
      sockets.push(this);
    }
    send(data) {
      if (this.readyState !== 1) throw new Error('InvalidStateError');
      this.sent.push(data);
    }
    close() {
      if (this.readyState >= 2) return;
      this.readyState = 3;
      this.closedByClient = true;
      this.onclose?.({ code: 1000, reason: '' });
    }
    // Server side.
    accept() {
      this.readyState = 1;
      this.onopen?.({});
    }
    push(...objs) {
      for (const o of objs) this.onmessage?.({ data: typeof o === 'string' ? o : JSON.stringify(o) });
    }
    serverClose(code, reason = '') {
      this.readyState = 3;
      this.onclose?.({ code, reason });
    }
    refuse() {
      this.readyState = 3;
      this.onerror?.({});
      this.onclose?.({ code: 1006, reason: '' });
    }
    /** The JSON messages the client sent. */
    msgs() {
      return this.sent.map((s) => JSON.parse(s));
    }
    msgsOfType(type) {
      return this.msgs().filter((m) => m.type === type);
    }
  }
  return { FakeWebSocket, sockets };
}

/** Returns a fake EventSource class and the list of streams it made. */
export function makeEventSource() {
  const streams = [];
  class FakeEventSource {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.listeners = new Map();
      this.onopen = this.onerror = null;
      this.closed = false;
      streams.push(this);
    }
    addEventListener(type, fn) {
      if (!this.listeners.has(type)) this.listeners.set(type, []);
      this.listeners.get(type).push(fn);
    }
    close() {
      this.readyState = 2;
      this.closed = true;
    }
    // Server side.
    get params() {
      return new URL(this.url).searchParams;
    }
    accept() {
      this.readyState = 1;
      this.onopen?.({});
    }
    /** Sends obj as an SSE event named after its type (as the server does). */
    push(...objs) {
      for (const o of objs) {
        for (const fn of this.listeners.get(o.type) ?? []) fn({ data: JSON.stringify(o), lastEventId: o.id ?? '' });
      }
    }
    fail() {
      this.readyState = 2;
      this.onerror?.({});
    }
  }
  return { FakeEventSource, streams };
}

/** A fake fetch; route(url, init) returns {status, body} or throws. */
export function makeFetch(route) {
  const calls = [];
  async function fetch(url, init = {}) {
    calls.push({ url, init });
    const r = await route(url, init);
    return {
      ok: r.status >= 200 && r.status < 300,
      status: r.status,
      json: async () => r.body,
    };
  }
  return { fetch, calls };
}

/** A JWT-shaped token (unsigned) with the given exp, for expiry parsing. */
export function fakeJwt(sub, exp) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, exp })}.sig`;
}
