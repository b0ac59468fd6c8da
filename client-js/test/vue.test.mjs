import assert from 'node:assert/strict';
import { test } from 'node:test';
import { effectScope, nextTick, ref } from 'vue';
import { ArenacastClient } from '../dist/index.js';
import { useEventStream, useScoreboard } from '../dist/vue.js';
import { FakeClock, flush, makeWebSocket } from './fakes.mjs';

function fakeClient(extra = {}) {
  const ws = makeWebSocket();
  const client = new ArenacastClient({ url: 'https://arena.test/events/', WebSocket: ws.FakeWebSocket, clock: new FakeClock(), random: () => 0, transports: ['websocket'], ...extra });
  return { client, sockets: ws.sockets, last: () => ws.sockets.at(-1) };
}

test('useEventStream: status, scoreboard snapshot, clarifications and own runs', async () => {
  const f = fakeClient({ token: 'tok' });
  const scope = effectScope();
  const s = scope.run(() => useEventStream('demo', { client: f.client, username: 'alice' }));
  assert.equal(s.status.value, 'connecting');
  await flush();
  const ws = f.last();
  ws.accept();
  assert.equal(s.status.value, 'connected');
  assert.deepEqual(ws.msgsOfType('subscribe'), [{ type: 'subscribe', channel: '/contest/demo' }]);
  ws.push(
    { type: 'subscribed', channel: '/contest/demo' },
    { type: 'scoreboard_update', channel: '/contest/demo', id: '3', data: { contest_alias: 'demo', scoreboard: { ranking: ['alice'] } } },
    { type: 'clarification', channel: '/contest/demo', id: '4', data: { clarification_id: 1, message: 'q?', answer: null } },
    { type: 'clarification', channel: '/contest/demo', id: '5', data: { clarification_id: 2, message: 'other' } },
    { type: 'clarification', channel: '/contest/demo', id: '6', data: { clarification_id: 1, message: 'q?', answer: 'yes' } },
    { type: 'run_update', channel: '/contest/demo', id: '7', data: { guid: 'g1', username: 'alice', verdict: 'JE' } },
    { type: 'run_update', channel: '/contest/demo', id: '8', data: { guid: 'g2', username: 'bob', verdict: 'AC' } },
    { type: 'run_update', channel: '/contest/demo', id: '9', data: { guid: 'g1', username: 'alice', verdict: 'AC' } },
    { type: 'contest_update', channel: '/contest/demo', id: '10', data: { event: 'extended' } },
  );
  assert.deepEqual(s.scoreboard.value, { ranking: ['alice'] });
  assert.deepEqual(s.clarifications.value.map((c) => [c.clarification_id, c.answer ?? null]), [[1, 'yes'], [2, null]]);
  assert.deepEqual(Object.keys(s.runs.value), ['g1']);
  assert.equal(s.runs.value.g1.verdict, 'AC');
  assert.deepEqual(s.contest.value, { event: 'extended' });
  ws.push({ type: 'error', error: 'rate_limited', message: 'slow down' });
  assert.equal(s.error.value.code, 'rate_limited');
  scope.stop();
  assert.equal(f.client.getSubscription('/contest/demo'), undefined, 'dispose drops the subscription');
  assert.equal(f.client.state, 'connected', 'a client passed in is not disconnected');
});

test('useEventStream: an update with only a URL calls fetchScoreboard, throttled, newest wins', async () => {
  const f = fakeClient({ token: 'tok' });
  const calls = [];
  const scope = effectScope();
  const s = scope.run(() =>
    useEventStream('demo', {
      client: f.client,
      fetchThrottle: 50,
      fetchScoreboard: async (ctx) => {
        calls.push(ctx);
        return { fetched: ctx.url };
      },
    }),
  );
  await flush();
  const ws = f.last();
  ws.accept();
  const upd = (id) => ({ type: 'scoreboard_update', channel: '/contest/demo', id: String(id), data: { contest_alias: 'demo', scoreboard_url: `/api/sb?v=${id}` } });
  ws.push({ type: 'subscribed', channel: '/contest/demo' }, upd(1), upd(2), upd(3));
  await flush();
  assert.deepEqual(calls.map((c) => c.url), ['/api/sb?v=1'], 'leading call only, so far');
  await new Promise((r) => setTimeout(r, 120));
  assert.deepEqual(calls.map((c) => c.url), ['/api/sb?v=1', '/api/sb?v=3'], 'one trailing call with the newest URL');
  assert.deepEqual(calls[1].contestAlias, 'demo');
  assert.deepEqual(s.scoreboard.value, { fetched: '/api/sb?v=3' });
  scope.stop();
});

test('useEventStream: a resync refetches the scoreboard', async () => {
  const f = fakeClient({ token: 'tok' });
  const calls = [];
  const scope = effectScope();
  scope.run(() => useEventStream('demo', { client: f.client, fetchThrottle: 0, fetchScoreboard: async (ctx) => (calls.push(ctx.reason), {}) }));
  await flush();
  f.last().accept();
  f.last().push({ type: 'subscribed', channel: '/contest/demo' }, { type: 'run_update', channel: '/contest/demo', id: '5', data: { guid: 'x' } });
  f.last().serverClose(4000);
  await f.client['clock'].advance(500);
  f.last().accept();
  f.last().push({ type: 'subscribed', channel: '/contest/demo', recovered: false });
  await flush();
  assert.deepEqual(calls, ['resync']);
  scope.stop();
});

test('useEventStream: an alias ref switches channel and clears the old state', async () => {
  const f = fakeClient({ token: 'tok' });
  const alias = ref('a');
  const scope = effectScope();
  const s = scope.run(() => useEventStream(alias, { client: f.client }));
  await flush();
  const ws = f.last();
  ws.accept();
  ws.push({ type: 'subscribed', channel: '/contest/a' }, { type: 'clarification', channel: '/contest/a', id: '1', data: { clarification_id: 1 } });
  assert.equal(s.clarifications.value.length, 1);
  alias.value = 'b';
  await nextTick();
  assert.equal(s.clarifications.value.length, 0);
  assert.deepEqual(ws.msgs().slice(-2), [{ type: 'unsubscribe', channel: '/contest/a' }, { type: 'subscribe', channel: '/contest/b' }]);
  scope.stop();
});

test('useEventStream owns the client it makes and disconnects it on dispose', async () => {
  const ws = makeWebSocket();
  const scope = effectScope();
  const s = scope.run(() => useEventStream('demo', { url: 'wss://arena.test/events/', token: 't', clientOptions: { WebSocket: ws.FakeWebSocket, transports: ['websocket'] } }));
  await flush();
  ws.sockets[0].accept();
  assert.equal(s.status.value, 'connected');
  scope.stop();
  assert.equal(s.status.value, 'disconnected');
  assert.ok(ws.sockets[0].closedByClient);
});

test('useScoreboard subscribes to the token channel without auth', async () => {
  const f = fakeClient();
  const scope = effectScope();
  const s = scope.run(() => useScoreboard('abc.def.ghi', { client: f.client }));
  await flush();
  const ws = f.last();
  ws.accept();
  assert.deepEqual(ws.msgs(), [{ type: 'subscribe', channel: '/scoreboard/abc.def.ghi' }]);
  ws.push({ type: 'subscribed', channel: '/scoreboard/abc.def.ghi' }, { type: 'scoreboard_update', channel: '/scoreboard/abc.def.ghi', id: '2', data: { ranking: [1] } });
  assert.deepEqual(s.scoreboard.value, { ranking: [1] });
  scope.stop();
});
