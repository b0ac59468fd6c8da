import assert from 'node:assert/strict';
import { test } from 'node:test';
import { effectScope, nextTick, ref, watchEffect } from 'vue';
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
  assert.deepEqual(ws.msgsOfType('subscribe'), [{ type: 'subscribe', channel: '/contest/demo', boards: 'patch' }], 'the composables ask for live boards');
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
  assert.deepEqual(ws.msgs().slice(-2), [{ type: 'unsubscribe', channel: '/contest/a' }, { type: 'subscribe', channel: '/contest/b', boards: 'patch' }]);
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
  assert.deepEqual(ws.msgs(), [{ type: 'subscribe', channel: '/scoreboard/abc.def.ghi', boards: 'patch' }]);
  ws.push({ type: 'subscribed', channel: '/scoreboard/abc.def.ghi' }, { type: 'scoreboard_update', channel: '/scoreboard/abc.def.ghi', id: '2', data: { ranking: [1] } });
  assert.deepEqual(s.scoreboard.value, { ranking: [1] });
  scope.stop();
});

const keyedBoard = (ch, id, view, rows) => ({
  type: 'scoreboard_update', channel: ch, id: String(id), view,
  data: { row_key: 'team', minute: 0, rows: rows.map(([team, solved]) => ({ team, solved })) },
});
const keyedPatch = (ch, id, base, view, data) => ({ type: 'scoreboard_patch', channel: ch, id: String(id), base: String(base), view, data });

test('useEventStream keeps a keyed board live in place: only changed rows are new, and each row is tracked on its own', async () => {
  const f = fakeClient({ token: 'tok' });
  const fetches = [];
  const scope = effectScope();
  const s = scope.run(() => useEventStream('demo', { client: f.client, fetchThrottle: 0, fetchScoreboard: async (c) => (fetches.push(c), {}) }));
  await flush();
  const ws = f.last();
  ws.accept();
  const ch = '/contest/demo';
  ws.push({ type: 'auth_success', user: 'alice', expires: 4102444800 }, { type: 'subscribed', channel: ch });
  ws.push(keyedBoard(ch, 10, 'public', [['t1', 3], ['t2', 2], ['t3', 1]]));
  const sb = s.scoreboard.value;
  assert.deepEqual(sb.rows.map((r) => r.team), ['t1', 't2', 't3']);
  assert.deepEqual(s.board.value, { view: 'public', version: '10', rowKey: 'team' });
  const [t1, t2, t3] = sb.rows;
  // One effect per row, as a row component with the row as its prop would be.
  const runs = [0, 0, 0];
  const seen = [];
  for (let i = 0; i < 3; i++) scope.run(() => watchEffect(() => { runs[i]++; seen[i] = s.scoreboard.value.rows[i]; }, { flush: 'sync' }));
  let minuteRuns = 0;
  scope.run(() => watchEffect(() => { minuteRuns++; void s.scoreboard.value.minute; }, { flush: 'sync' }));
  assert.deepEqual(runs, [1, 1, 1]);

  ws.push(keyedPatch(ch, 12, 10, 'public', { rows: { t3: { team: 't3', solved: 5 } } }));
  assert.equal(s.scoreboard.value, sb, 'the same board object, changed in place');
  assert.deepEqual(runs, [1, 1, 2], 'only the changed row re-ran');
  assert.equal(sb.rows[0], t1);
  assert.equal(sb.rows[1], t2);
  assert.notEqual(sb.rows[2], t3);
  assert.equal(minuteRuns, 1);

  // t3 moves to the top: the three places change, nothing else.
  ws.push(keyedPatch(ch, 13, 12, 'public', { order: [{ t3: 0 }], fields: { minute: 7 } }));
  assert.deepEqual(sb.rows.map((r) => r.team), ['t3', 't1', 't2']);
  assert.deepEqual(runs, [2, 2, 3]);
  assert.equal(seen[1], t1, 'the moved rows are the same objects');
  assert.equal(minuteRuns, 2);
  assert.equal(sb.minute, 7);
  assert.equal(s.board.value.version, '13');

  // A removed row, then the user's own view takes over.
  ws.push(keyedPatch(ch, 14, 13, 'public', { rows: { t2: null } }));
  assert.equal(sb.rows.length, 2);
  ws.push(keyedBoard(ch, 15, 'user:alice', [['t1', 9]]));
  assert.deepEqual(s.board.value.view, 'user:alice');
  assert.deepEqual(s.scoreboard.value.rows.map((r) => r.solved), [9]);

  // A reconnect that cannot be recovered: the server sends fresh boards, so no fetch.
  ws.serverClose(4000);
  await f.client['clock'].advance(500);
  f.last().accept();
  f.last().push({ type: 'subscribed', channel: ch, recovered: false });
  await flush();
  assert.deepEqual(fetches, [], 'fetchScoreboard is never called for keyed boards');
  scope.stop();
});

test('a scoreboard_url update after a keyed board is not fetched; with jitter_ms the fetch waits random() * jitter_ms', async () => {
  const f = fakeClient({ token: 'tok' });
  const calls = [];
  const scope = effectScope();
  scope.run(() => useEventStream('demo', {
    client: f.client, fetchThrottle: 0, random: () => 0.5,
    fetchScoreboard: async (ctx) => (calls.push([ctx.url, Date.now()]), { fetched: ctx.url }),
  }));
  await flush();
  const ws = f.last();
  ws.accept();
  const ch = '/contest/demo';
  const url = (id, jitter) => ({ type: 'scoreboard_update', channel: ch, id: String(id), view: 'public', jitter_ms: jitter, data: { scoreboard_url: `/sb?v=${id}` } });
  const t0 = Date.now();
  ws.push({ type: 'subscribed', channel: ch }, url(1, 200), url(2, 200));
  await flush();
  assert.deepEqual(calls, [], 'not at once');
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(calls, [], 'not before random() * jitter_ms (100 ms)');
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(calls.map((c) => c[0]), ['/sb?v=2'], 'one fetch, of the newest URL');
  assert.ok(calls[0][1] - t0 >= 95, `waited ${calls[0][1] - t0} ms`);
  ws.push(url(3));
  await flush();
  assert.deepEqual(calls.map((c) => c[0]), ['/sb?v=2', '/sb?v=3'], 'no jitter_ms: at once');
  ws.push(keyedBoard(ch, 4, 'public', [['t', 1]]), url(5, 200));
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(calls.length, 2, 'once keyed, no fetch');
  scope.stop();
});

test('useScoreboard with boards: full gets whole keyed boards and applies them in place', async () => {
  const f = fakeClient();
  const scope = effectScope();
  const s = scope.run(() => useScoreboard('tok', { client: f.client, boards: 'full' }));
  await flush();
  const ws = f.last();
  ws.accept();
  const ch = '/scoreboard/tok';
  assert.deepEqual(ws.msgs(), [{ type: 'subscribe', channel: ch, boards: 'full' }]);
  ws.push({ type: 'subscribed', channel: ch }, keyedBoard(ch, 1, 'public', [['a', 1], ['b', 0]]));
  const sb = s.scoreboard.value;
  const a = sb.rows[0];
  ws.push(keyedBoard(ch, 2, 'public', [['b', 2], ['a', 1]]));
  assert.equal(s.scoreboard.value, sb);
  assert.deepEqual(sb.rows.map((r) => r.team), ['b', 'a']);
  assert.equal(sb.rows[1], a, 'an equal row keeps its object');
  scope.stop();
});
