// Builds a client wired to the fakes, and records what it emits.
import { ArenacastClient } from '../dist/index.js';
import { FakeClock, flush, makeEventSource, makeFetch, makeWebSocket } from './fakes.mjs';

/**
 * Returns a client on fake browser APIs. options.route answers fetch calls
 * (default: every ticket request succeeds); options.client are extra client
 * options. random is 0, so every backoff delay is exactly the minimum.
 */
export function setup(options = {}) {
  const clock = new FakeClock();
  const ws = makeWebSocket();
  const es = makeEventSource();
  let tickets = 0;
  const f = makeFetch(options.route ?? (() => ({ status: 200, body: { ticket: `ticket-${++tickets}`, expires: 0 } })));
  const client = new ArenacastClient({
    url: 'https://arena.test/events/',
    WebSocket: ws.FakeWebSocket,
    EventSource: es.FakeEventSource,
    fetch: f.fetch,
    clock,
    random: () => 0,
    minReconnectDelay: 100,
    maxReconnectDelay: 1000,
    ...options.client,
  });
  const states = [];
  const errors = [];
  const events = [];
  const resyncs = [];
  const disconnects = [];
  client.on('state', (c) => states.push(c.newState));
  client.on('error', (e) => errors.push(e));
  client.on('event', (e) => events.push(e));
  client.on('resync', (r) => resyncs.push(r));
  client.on('disconnected', (d) => disconnects.push(d));
  return {
    client,
    clock,
    sockets: ws.sockets,
    streams: es.streams,
    fetchCalls: f.calls,
    states,
    errors,
    events,
    resyncs,
    disconnects,
    flush,
    /** The newest socket. */
    get ws() {
      return ws.sockets[ws.sockets.length - 1];
    },
    /** The newest stream. */
    get es() {
      return es.streams[es.streams.length - 1];
    },
  };
}

/** A run_update event as the server sends it. */
export function runUpdate(channel, id, guid = `g${id}`) {
  return { type: 'run_update', channel, id: String(id), timestamp: 1704067200, data: { guid, verdict: 'AC' } };
}
