import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CloseCode, isTerminalClose } from '../dist/index.js';
import { setup } from './harness.mjs';

test('connect walks disconnected -> connecting -> connected and sends auth before subscribes', async () => {
  const h = setup({ client: { token: 'tok' } });
  assert.equal(h.client.state, 'disconnected');
  h.client.subscribe('/contest/demo');
  h.client.connect();
  await h.flush();
  assert.equal(h.client.state, 'connecting');
  assert.equal(h.sockets.length, 1);
  assert.equal(h.ws.url, 'wss://arena.test/events/?batch=1');
  h.ws.accept();
  assert.equal(h.client.state, 'connected');
  assert.equal(h.client.transport, 'websocket');
  assert.deepEqual(h.ws.msgs().map((m) => m.type), ['auth', 'subscribe']);
  assert.equal(h.ws.msgs()[0].token, 'tok');
  assert.deepEqual(h.ws.msgs()[1], { type: 'subscribe', channel: '/contest/demo' });
  assert.deepEqual(h.states, ['connecting', 'connected']);
});

test('a reconnectable close reconnects after the backoff delay and says why', async () => {
  const h = setup();
  const connecting = [];
  h.client.on('connecting', (c) => connecting.push(c));
  h.client.connect();
  await h.flush();
  h.ws.accept();
  h.ws.serverClose(CloseCode.ServerShutdown, 'server shutdown');
  assert.equal(h.client.state, 'connecting');
  assert.deepEqual(connecting.at(-1), { code: 4000, reason: 'server shutdown' });
  assert.equal(h.sockets.length, 1, 'no reconnect before the delay');
  await h.clock.advance(99);
  assert.equal(h.sockets.length, 1);
  await h.clock.advance(1);
  assert.equal(h.sockets.length, 2, 'reconnected at the minimum delay (random = 0)');
  h.ws.accept();
  assert.deepEqual(h.states, ['connecting', 'connected', 'connecting', 'connected']);
});

test('backoff grows over failed attempts and stops growing at the maximum', async () => {
  const h = setup({ client: { random: () => 0.999999, transports: ['websocket'] } });
  h.client.connect();
  await h.flush();
  const delays = [];
  for (let i = 0; i < 6; i++) {
    h.ws.refuse();
    delays.push(h.clock.pending()[0]);
    await h.clock.advance(h.clock.pending()[0]);
  }
  assert.deepEqual(delays, [100, 199, 399, 799, 999, 999]);
  assert.equal(h.sockets.length, 7);
});

test('a terminal close code stops: state disconnected with the reason, no reconnect', async () => {
  assert.ok(isTerminalClose(4500) && isTerminalClose(4999) && !isTerminalClose(4499) && !isTerminalClose(1006));
  const h = setup();
  h.client.connect();
  await h.flush();
  h.ws.accept();
  h.ws.serverClose(CloseCode.SessionRevoked, 'session revoked');
  assert.equal(h.client.state, 'disconnected');
  assert.deepEqual(h.disconnects, [{ code: 4503, reason: 'session revoked' }]);
  await h.clock.advance(10 * 60_000);
  assert.equal(h.sockets.length, 1, 'never reconnected');
  assert.equal(h.streams.length, 0, 'and did not fall back to SSE');
});

test('disconnect() closes the socket and cancels the pending reconnect', async () => {
  const h = setup();
  h.client.connect();
  await h.flush();
  h.ws.refuse();
  assert.equal(h.clock.pending().length, 1);
  h.client.disconnect();
  assert.equal(h.client.state, 'disconnected');
  await h.clock.advance(60_000);
  assert.equal(h.sockets.length, 1);
  h.client.connect();
  await h.flush();
  h.ws.accept();
  h.client.disconnect();
  assert.ok(h.ws.closedByClient);
  assert.deepEqual(h.disconnects.at(-1), { code: 0, reason: 'disconnect called' });
});

test('heartbeat: a ping every interval, and a missing pong replaces the connection', async () => {
  const h = setup({ client: { pingInterval: 25_000, pongTimeout: 10_000 } });
  h.client.connect();
  await h.flush();
  h.ws.accept();
  await h.clock.advance(25_000);
  assert.deepEqual(h.ws.msgsOfType('ping'), [{ type: 'ping' }]);
  h.ws.push({ type: 'pong' });
  await h.clock.advance(25_000);
  assert.equal(h.ws.msgsOfType('ping').length, 2);
  assert.equal(h.client.state, 'connected', 'answered pings keep the connection');
  const first = h.ws;
  await h.clock.advance(9_999);
  assert.equal(h.client.state, 'connected');
  await h.clock.advance(1);
  assert.ok(first.closedByClient, 'the silent socket was closed');
  assert.equal(h.client.state, 'connecting');
  await h.clock.advance(100);
  assert.equal(h.sockets.length, 2, 'and replaced');
});

test('a message that is not a pong also proves the connection alive', async () => {
  const h = setup({ client: { pingInterval: 1000, pongTimeout: 500 } });
  h.client.subscribe('/contest/demo');
  h.client.connect();
  await h.flush();
  h.ws.accept();
  await h.clock.advance(1000);
  h.ws.push({ type: 'run_update', channel: '/contest/demo', id: '1', data: {} });
  await h.clock.advance(999);
  assert.equal(h.client.state, 'connected');
  assert.equal(h.sockets.length, 1);
});

test('a WebSocket that never opens is abandoned after the open timeout', async () => {
  const h = setup({ client: { openTimeout: 5000, transports: ['websocket'] } });
  h.client.connect();
  await h.flush();
  await h.clock.advance(5000);
  assert.ok(h.sockets[0].closedByClient);
  await h.clock.advance(100);
  assert.equal(h.sockets.length, 2);
});

test('handlers for event types and subscription events see the events', async () => {
  const h = setup();
  const sub = h.client.subscribe('/contest/demo');
  const subStates = [];
  const runs = [];
  const clientRuns = [];
  sub.on('state', (s) => subStates.push(s.newState));
  sub.on('run_update', (e) => runs.push(e.data.guid));
  h.client.on('run_update', (e) => clientRuns.push(e.id));
  h.client.connect();
  await h.flush();
  h.ws.accept();
  h.ws.push({ type: 'subscribed', channel: '/contest/demo' });
  h.ws.push({ type: 'run_update', channel: '/contest/demo', id: '7', data: { guid: 'g7' } });
  h.ws.push({ type: 'run_update', channel: '/contest/other', id: '8', data: { guid: 'g8' } });
  assert.deepEqual(runs, ['g7']);
  assert.deepEqual(clientRuns, ['7'], 'events of channels not subscribed are dropped');
  assert.equal(sub.state, 'subscribed');
  assert.deepEqual(subStates, ['subscribed'], 'it was subscribing before the handler was added');
  sub.unsubscribe();
  assert.deepEqual(h.ws.msgs().at(-1), { type: 'unsubscribe', channel: '/contest/demo' });
  h.ws.push({ type: 'run_update', channel: '/contest/demo', id: '9', data: { guid: 'g9' } });
  assert.deepEqual(runs, ['g7'], 'nothing after unsubscribe');
});

test('a refused subscribe ends that subscription only', async () => {
  const h = setup();
  const a = h.client.subscribe('/contest/a');
  const b = h.client.subscribe('/contest/b');
  const reasons = [];
  b.on('unsubscribed', (u) => reasons.push(u.reason));
  h.client.connect();
  await h.flush();
  h.ws.accept();
  h.ws.push({ type: 'subscribed', channel: '/contest/a' });
  h.ws.push({ type: 'error', error: 'unauthorized', channel: '/contest/b', message: 'not allowed on this channel' });
  assert.equal(a.state, 'subscribed');
  assert.equal(b.state, 'unsubscribed');
  assert.deepEqual(reasons, ['error']);
  assert.equal(h.errors.at(-1).code, 'unauthorized');
  h.ws.serverClose(4000, 'server shutdown');
  await h.clock.advance(100);
  h.ws.accept();
  assert.deepEqual(h.ws.msgsOfType('subscribe').map((m) => m.channel), ['/contest/a'], 'the refused one is not retried');
});

test('unsubscribed with reason revoked ends the subscription', async () => {
  const h = setup();
  const sub = h.client.subscribe('/contest/a');
  h.client.connect();
  await h.flush();
  h.ws.accept();
  h.ws.push({ type: 'subscribed', channel: '/contest/a' }, { type: 'unsubscribed', channel: '/contest/a', reason: 'revoked' });
  assert.equal(sub.state, 'unsubscribed');
  assert.equal(sub.active, false);
});
