import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fakeJwt } from './fakes.mjs';
import { setup } from './harness.mjs';

test('getToken is called before connecting and its token authenticates', async () => {
  const calls = [];
  const h = setup({ client: { getToken: async () => (calls.push(1), 'fresh') } });
  h.client.connect();
  await h.flush();
  h.ws.accept();
  assert.equal(calls.length, 1);
  assert.deepEqual(h.ws.msgs()[0], { type: 'auth', token: 'fresh', id: h.ws.msgs()[0].id });
});

test('a token about to expire (by its exp claim) is replaced before connecting', async () => {
  let n = 0;
  const h = setup({ client: { getToken: async () => `token-${++n}` } });
  const soon = fakeJwt('alice', Math.floor(h.clock.now() / 1000) + 10);
  h.client.setToken(soon);
  h.client.connect();
  await h.flush();
  h.ws.accept();
  assert.equal(h.ws.msgs()[0].token, 'token-1');
});

test('token_expired from the server gets a fresh token sent as auth', async () => {
  let n = 0;
  const h = setup({ client: { getToken: async () => `token-${++n}` } });
  h.client.connect();
  await h.flush();
  h.ws.accept();
  h.ws.push({ type: 'auth_success', user: 'alice' });
  h.ws.push({ type: 'error', error: 'token_expired', message: 'token expires soon' });
  await h.flush();
  assert.deepEqual(h.ws.msgsOfType('auth').map((m) => m.token), ['token-1', 'token-2']);
  assert.equal(h.client.state, 'connected');
});

test('the token is refreshed shortly before auth_success.expires', async () => {
  let n = 0;
  const h = setup({ client: { getToken: async () => `token-${++n}`, tokenRefreshLead: 90_000, pingInterval: 1e9 } });
  h.client.connect();
  await h.flush();
  h.ws.accept();
  const expires = Math.floor(h.clock.now() / 1000) + 3600;
  h.ws.push({ type: 'auth_success', user: 'alice', expires });
  await h.clock.advance(3600_000 - 90_000 - 1000);
  assert.equal(h.ws.msgsOfType('auth').length, 1, 'not yet');
  await h.clock.advance(1000);
  assert.deepEqual(h.ws.msgsOfType('auth').map((m) => m.token), ['token-1', 'token-2']);
});

test('a short-lived token is refreshed at half its remaining life, not in a loop', async () => {
  let n = 0;
  const h = setup({ client: { getToken: async () => `token-${++n}`, tokenRefreshLead: 90_000, pingInterval: 1e9 } });
  h.client.connect();
  await h.flush();
  h.ws.accept();
  h.ws.push({ type: 'auth_success', user: 'alice', expires: Math.floor(h.clock.now() / 1000) + 60 });
  await h.clock.advance(29_999);
  assert.equal(n, 1);
  await h.clock.advance(1);
  assert.equal(n, 2);
});

test('after close 4003 (token expired) the reconnect uses a fresh token', async () => {
  let n = 0;
  const h = setup({ client: { getToken: async () => `token-${++n}` } });
  h.client.connect();
  await h.flush();
  h.ws.accept();
  h.ws.serverClose(4003, 'token expired');
  await h.clock.advance(100);
  h.ws.accept();
  assert.deepEqual(h.sockets.map((s) => s.msgsOfType('auth')[0].token), ['token-1', 'token-2']);
});

test('a refused auth is retried once with a fresh token, not more', async () => {
  let n = 0;
  const h = setup({ client: { getToken: async () => `token-${++n}` } });
  h.client.connect();
  await h.flush();
  h.ws.accept();
  const first = h.ws.msgsOfType('auth')[0];
  h.ws.push({ type: 'error', error: 'unauthorized', id: first.id, message: 'bad token' });
  await h.flush();
  const second = h.ws.msgsOfType('auth')[1];
  assert.equal(second.token, 'token-2');
  h.ws.push({ type: 'error', error: 'unauthorized', id: second.id, message: 'bad token' });
  await h.flush();
  assert.equal(h.ws.msgsOfType('auth').length, 2);
  assert.equal(h.errors.filter((e) => e.source === 'auth').length, 2);
});

test('a failing getToken delays the attempt with backoff instead of connecting without a token', async () => {
  let fail = true;
  const h = setup({ client: { getToken: async () => (fail ? Promise.reject(new Error('offline')) : 'ok-token') } });
  h.client.connect();
  await h.flush();
  assert.equal(h.sockets.length, 0);
  assert.equal(h.errors[0].source, 'token');
  fail = false;
  await h.clock.advance(100);
  h.ws.accept();
  assert.equal(h.ws.msgs()[0].token, 'ok-token');
});

test('a static token is sent on every connection; setToken replaces it at once', async () => {
  const h = setup({ client: { token: 'static' } });
  h.client.connect();
  await h.flush();
  h.ws.accept();
  h.client.setToken('newer');
  assert.deepEqual(h.ws.msgsOfType('auth').map((m) => m.token), ['static', 'newer']);
  h.ws.push({ type: 'error', error: 'token_expired' });
  assert.equal(h.errors.at(-1).code, 'token_expired');
});
