import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runUpdate, setup } from './harness.mjs';

const C = '/contest/demo';

test('no WebSocket at all: SSE at once, with a ticket and the channels in the URL', async (t) => {
  // As a page that deleted window.WebSocket: the option is unset and the global is gone.
  const saved = Object.getOwnPropertyDescriptor(globalThis, 'WebSocket');
  delete globalThis.WebSocket;
  t.after(() => saved && Object.defineProperty(globalThis, 'WebSocket', saved));
  const h = setup({ client: { WebSocket: undefined, token: 'tok' } });
  h.client.subscribe(C);
  h.client.subscribe('/user/alice');
  h.client.connect();
  await h.flush();
  assert.deepEqual(h.fetchCalls.map((c) => [c.url, c.init.method, c.init.headers.Authorization]), [
    ['https://arena.test/events/ticket', 'POST', 'Bearer tok'],
  ]);
  assert.equal(h.streams.length, 1);
  assert.equal(h.es.url.split('?')[0], 'https://arena.test/events/');
  assert.deepEqual(h.es.params.getAll('channel'), [C, '/user/alice']);
  assert.equal(h.es.params.get('ticket'), 'ticket-1');
  h.es.accept();
  assert.equal(h.client.state, 'connected');
  assert.equal(h.client.transport, 'sse');
  h.es.push({ type: 'subscribed', channel: C }, runUpdate(C, 5));
  assert.deepEqual(h.events.map((e) => e.id), ['5']);
});

test('two WebSocket attempts that never open fall back to SSE', async () => {
  const h = setup({ client: { token: 'tok' } });
  h.client.subscribe(C);
  h.client.connect();
  await h.flush();
  h.ws.refuse();
  await h.clock.advance(100);
  assert.equal(h.sockets.length, 2);
  assert.equal(h.streams.length, 0, 'one failure is not enough');
  h.ws.refuse();
  await h.clock.advance(1000);
  assert.equal(h.sockets.length, 2);
  assert.equal(h.streams.length, 1, 'SSE after the second');
  h.es.accept();
  h.es.push({ type: 'subscribed', channel: C }, runUpdate(C, 1));
  assert.equal(h.client.transport, 'sse');
  assert.deepEqual(h.events.map((e) => e.id), ['1']);
});

test('when SSE cannot reach the server either, WebSocket is tried again', async () => {
  const h = setup({ client: { wsFailuresBeforeFallback: 1, token: 'tok' } });
  h.client.subscribe(C);
  h.client.connect();
  await h.flush();
  h.ws.refuse();
  await h.clock.advance(1000);
  assert.equal(h.streams.length, 1);
  h.es.fail(); // The refusal probe finds no HTTP refusal: the server is unreachable.
  await h.clock.advance(1000);
  assert.equal(h.sockets.length, 2, 'back to WebSocket');
});

test('a connection that opened and dropped does not count against WebSocket', async () => {
  const h = setup({ client: { wsFailuresBeforeFallback: 1 } });
  h.client.subscribe(C);
  h.client.connect();
  await h.flush();
  h.ws.accept();
  h.ws.serverClose(1006);
  await h.clock.advance(100);
  assert.equal(h.sockets.length, 2);
  assert.equal(h.streams.length, 0);
});

test('SSE resumes with last_event_id = the smallest last id, and drops what it already had', async () => {
  const h = setup({ client: { wsFailuresBeforeFallback: 1, token: 'tok', websocketRetryInterval: 0 } });
  h.client.subscribe(C);
  h.client.subscribe('/user/alice');
  h.client.connect();
  await h.flush();
  h.ws.accept();
  h.ws.push({ type: 'subscribed', channel: C }, { type: 'subscribed', channel: '/user/alice' });
  h.ws.push(runUpdate(C, 10), runUpdate('/user/alice', 12), runUpdate(C, 15));
  h.ws.serverClose(4000);
  await h.clock.advance(100);
  h.ws.refuse(); // WebSocket now blocked
  await h.clock.advance(1000);
  assert.equal(h.streams.length, 1);
  assert.equal(h.es.params.get('last_event_id'), '12');
  h.es.accept();
  h.es.push(
    { type: 'subscribed', channel: C, recovered: true },
    { type: 'subscribed', channel: '/user/alice', recovered: true },
    runUpdate(C, 15),
    runUpdate('/user/alice', 16),
    runUpdate(C, 17),
  );
  assert.deepEqual(h.events.map((e) => e.id), ['10', '12', '15', '16', '17']);
  assert.equal(h.resyncs.length, 0);
});

test('on SSE a new subscription restarts the stream with the new channel set', async () => {
  const h = setup({ client: { WebSocket: null, transports: ['sse'], token: 'tok' } });
  h.client.subscribe(C);
  h.client.connect();
  await h.flush();
  h.es.accept();
  h.es.push({ type: 'subscribed', channel: C }, runUpdate(C, 3));
  const first = h.es;
  h.client.subscribe('/user/alice');
  h.client.subscribe('/problem/p');
  await h.flush();
  assert.ok(first.closed);
  assert.equal(h.streams.length, 2, 'one restart for both');
  assert.deepEqual(h.es.params.getAll('channel'), [C, '/user/alice', '/problem/p']);
  assert.equal(h.es.params.get('last_event_id'), '3');
  assert.equal(h.client.state, 'connected', 'a deliberate restart does not flap the state');
});

test('an SSE refusal for one channel drops that channel and retries at once without it', async () => {
  const h = setup({
    client: { WebSocket: null, transports: ['sse'], token: 'tok' },
    route: (url, init) =>
      init.method === 'POST'
        ? { status: 200, body: { ticket: 'tk', expires: 0 } }
        : { status: 403, body: { error: 'unauthorized', channel: '/contest/secret', message: 'not allowed' } },
  });
  const secret = h.client.subscribe('/contest/secret');
  h.client.subscribe(C);
  h.client.connect();
  await h.flush();
  h.es.fail();
  await h.flush();
  assert.equal(secret.state, 'unsubscribed');
  assert.equal(h.errors.at(-1).channel, '/contest/secret');
  await h.clock.advance(0);
  assert.equal(h.streams.length, 2);
  assert.deepEqual(h.es.params.getAll('channel'), [C]);
});

test('scoreboard channels need no ticket', async () => {
  const h = setup({ client: { WebSocket: null, transports: ['sse'] } });
  h.client.subscribe('/scoreboard/abc.def.ghi');
  h.client.connect();
  await h.flush();
  assert.equal(h.fetchCalls.length, 0);
  assert.equal(h.es.params.get('ticket'), null);
});

test('while on SSE, WebSocket is tried again later and takes over with since', async () => {
  const h = setup({ client: { wsFailuresBeforeFallback: 1, token: 'tok', websocketRetryInterval: 60_000, pingInterval: 1e9 } });
  h.client.subscribe(C);
  const connected = [];
  h.client.on('connected', (c) => connected.push(c.transport));
  h.client.connect();
  await h.flush();
  h.ws.refuse();
  await h.clock.advance(100);
  h.es.accept();
  h.es.push({ type: 'subscribed', channel: C }, runUpdate(C, 41));
  assert.equal(h.sockets.length, 1);
  await h.clock.advance(60_000);
  assert.equal(h.sockets.length, 2, 'the probe');
  assert.equal(h.client.transport, 'sse', 'SSE stays until the probe opens');
  h.ws.accept();
  assert.ok(h.streams[0].closed, 'the stream was closed');
  assert.equal(h.client.transport, 'websocket');
  assert.deepEqual(connected, ['sse', 'websocket']);
  assert.deepEqual(h.ws.msgs().map((m) => m.type), ['auth', 'subscribe']);
  assert.equal(h.ws.msgsOfType('subscribe')[0].since, '41');
  h.ws.push({ type: 'subscribed', channel: C, recovered: true }, runUpdate(C, 41), runUpdate(C, 42));
  assert.deepEqual(h.events.map((e) => e.id), ['41', '42']);
});

test('a failed probe leaves SSE alone and is tried again later', async () => {
  const h = setup({ client: { wsFailuresBeforeFallback: 1, websocketRetryInterval: 60_000 } });
  h.client.subscribe('/scoreboard/t');
  h.client.connect();
  await h.flush();
  h.ws.refuse();
  await h.clock.advance(100);
  h.es.accept();
  await h.clock.advance(60_000);
  h.ws.refuse();
  assert.equal(h.client.transport, 'sse');
  assert.ok(!h.es.closed);
  await h.clock.advance(60_000);
  assert.equal(h.sockets.length, 3);
});

test('a terminal code is honoured after falling back too', async () => {
  const h = setup({ client: { WebSocket: null, transports: ['websocket'] } });
  h.client.connect();
  await h.flush();
  assert.equal(h.client.state, 'disconnected', 'no transport at all');
  assert.equal(h.disconnects[0].code, 4);
});
