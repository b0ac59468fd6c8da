// Test page script: exposes window.harness, which starts an ArenacastClient
// with the configuration a test passes and records what it emits.
import { ArenacastClient } from '../../dist/index.js';

const params = new URLSearchParams(location.search);
if (params.get('nows') === '1') {
  // As in a browser or network where WebSocket is unavailable.
  delete window.WebSocket;
}

const RealWebSocket = window.WebSocket;
const gate = { closed: false };
/** A WebSocket that, while the gate is closed, connects to a port nothing listens on. */
class GatedWebSocket extends (RealWebSocket ?? Object) {
  constructor(url) {
    super(gate.closed ? 'ws://127.0.0.1:9/gated' : url);
  }
}

const harness = {
  events: [],
  states: [],
  subscribed: [],
  errors: [],
  resyncs: [],
  transports: [],
  authenticated: [],
  replies: [],
  gate,
  client: undefined,
  start(cfg) {
    const client = new ArenacastClient({
      url: cfg.url,
      token: cfg.token,
      // The test exposes window.mintToken when it wants getToken used.
      getToken: cfg.getToken ? () => window.mintToken() : undefined,
      minReconnectDelay: 200,
      maxReconnectDelay: 1500,
      transports: cfg.transports,
      WebSocket: cfg.gated ? GatedWebSocket : undefined,
      boards: cfg.boards,
    });
    client.on('message', (m) => {
      if (m.type === 'subscribed') harness.replies.push(m);
    });
    client.on('state', (s) => harness.states.push(s.newState));
    client.on('connected', (c) => harness.transports.push(c.transport));
    client.on('subscribed', (s) => harness.subscribed.push(s));
    client.on('error', (e) => harness.errors.push({ source: e.source, code: e.code, message: e.message, channel: e.channel }));
    client.on('resync', (r) => harness.resyncs.push(r));
    client.on('authenticated', (a) => harness.authenticated.push(a));
    client.on('event', (e) => harness.events.push({ type: e.type, channel: e.channel, id: e.id, view: e.view, base: e.base, jitterMs: e.jitterMs, data: cfg.boards ? undefined : e.data }));
    for (const ch of cfg.channels) client.subscribe(ch);
    client.connect();
    harness.client = client;
  },
  /** A channel's keyed board as plain JSON with its view and version, or null. */
  board(channel) {
    const b = harness.client.getSubscription(channel)?.board;
    return b ? { view: b.view, version: b.version, data: JSON.parse(JSON.stringify(b.data)) } : null;
  },
  /** The ids of received events of a type. */
  ids(type) {
    return harness.events.filter((e) => !type || e.type === type).map((e) => e.id);
  },
};
window.harness = harness;
