import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runUpdate, setup } from './harness.mjs';

// The server answers every message it drops for its rate with rate_limited,
// naming the message's id and, for a subscribe or unsubscribe, its channel
// (docs/protocol.md §4). The client sends those messages again.

async function connected(h) {
  h.client.connect();
  await h.flush();
  h.ws.accept();
}

const limited = (channel, id) => ({ type: 'error', error: 'rate_limited', message: 'too many messages', channel, id });

test('100 subscriptions: dropped subscribes are sent again, with since, until each is subscribed', async () => {
  const h = setup({ client: { token: 'tok' } });
  const channels = Array.from({ length: 100 }, (_, i) => `/problem/p${i}`);
  const subs = channels.map((c) => h.client.subscribe(c));
  await connected(h);
  assert.equal(h.ws.msgsOfType('subscribe').length, 100);
  h.ws.push({ type: 'auth_success', user: 'u', expires: 0, id: 'auth-1' });
  for (const c of channels.slice(0, 40)) h.ws.push({ type: 'subscribed', channel: c }, runUpdate(c, 10));
  // A reconnect: the server accepts 40 and drops 60.
  h.ws.serverClose(4000, 'server shutdown');
  await h.clock.advance(100);
  h.ws.accept();
  const first = h.ws.msgsOfType('subscribe');
  assert.equal(first.length, 100);
  h.ws.push({ type: 'auth_success', user: 'u', expires: 0, id: 'auth-2' });
  for (const c of channels.slice(0, 40)) h.ws.push({ type: 'subscribed', channel: c, recovered: true });
  for (const c of channels.slice(40)) h.ws.push(limited(c));
  assert.equal(h.ws.msgsOfType('subscribe').length, 100, 'nothing is resent at once');
  await h.clock.advance(200); // one backoff (random 0: the minimum, 100 ms × 2^0)
  const resent = h.ws.msgsOfType('subscribe').slice(100);
  assert.deepEqual(resent.map((m) => m.channel), channels.slice(40));
  // Half are dropped again: they come back after a longer backoff.
  for (const c of channels.slice(40, 70)) h.ws.push({ type: 'subscribed', channel: c });
  for (const c of channels.slice(70)) h.ws.push(limited(c));
  await h.clock.advance(1000);
  const again = h.ws.msgsOfType('subscribe').slice(160);
  assert.deepEqual(again.map((m) => m.channel), channels.slice(70));
  for (const c of channels.slice(70)) h.ws.push({ type: 'subscribed', channel: c });
  assert.ok(subs.every((s) => s.state === 'subscribed'), 'every subscription ends subscribed');
  await h.clock.advance(5000);
  assert.equal(h.ws.msgsOfType('subscribe').length, 190, 'no resend once subscribed');
  // The resent subscribes of channels that had events resume from them.
  assert.ok(first.slice(0, 40).every((m) => m.since === '10'));
});

test('a dropped unsubscribe is sent again; a dropped auth is sent again', async () => {
  const h = setup({ client: { token: 'tok' } });
  const sub = h.client.subscribe('/problem/a');
  await connected(h);
  h.ws.push({ type: 'auth_success', user: 'u', expires: 0, id: 'auth-1' }, { type: 'subscribed', channel: '/problem/a' });
  h.client.removeSubscription(sub);
  assert.equal(h.ws.msgsOfType('unsubscribe').length, 1);
  h.ws.push(limited('/problem/a'));
  await h.clock.advance(200);
  assert.deepEqual(h.ws.msgsOfType('unsubscribe'), [
    { type: 'unsubscribe', channel: '/problem/a' },
    { type: 'unsubscribe', channel: '/problem/a' },
  ]);
  // A refreshed token whose auth the server dropped.
  h.client.setToken('tok2');
  const auths = h.ws.msgsOfType('auth');
  const last = auths[auths.length - 1];
  h.ws.push(limited(undefined, last.id));
  await h.clock.advance(200);
  const after = h.ws.msgsOfType('auth');
  assert.equal(after.length, auths.length + 1);
  assert.equal(after[after.length - 1].token, 'tok2');
  // rate_limited for a message the client no longer cares about resends nothing.
  h.ws.push(limited(undefined, 'other'));
  await h.clock.advance(5000);
  assert.equal(h.ws.msgsOfType('auth').length, auths.length + 1);
});

test('a channel subscribed after a dropped subscribe starts its next backoff afresh', async () => {
  // Jitter near its top, so the delay grows with each attempt.
  const h = setup({ client: { token: 'tok', random: () => 0.999 } });
  const sub = h.client.subscribe('/problem/a');
  await connected(h);
  h.ws.push({ type: 'auth_success', user: 'u', expires: 0, id: 'auth-1' });
  // Three drops in a row: each resend waits longer (up to 100 ms × 2^attempt).
  for (let i = 0; i < 3; i++) {
    h.ws.push(limited('/problem/a'));
    await h.clock.advance(1000);
  }
  h.ws.push({ type: 'subscribed', channel: '/problem/a' });
  // Later the page subscribes the channel anew, and that subscribe is
  // dropped: back to the first, shortest backoff.
  h.client.removeSubscription(sub);
  h.ws.push({ type: 'unsubscribed', channel: '/problem/a', reason: 'requested' });
  h.client.subscribe('/problem/a');
  const sent = h.ws.msgsOfType('subscribe').length;
  h.ws.push(limited('/problem/a'));
  await h.clock.advance(250); // attempt 1: under 200 ms; attempt 4 would be about 1 s
  assert.equal(h.ws.msgsOfType('subscribe').length, sent + 1, 'resent after the first backoff');
});
