// Keyed boards through the client: `boards` on subscribe, the board kept per
// view, gaps answered with a subscribe for fresh boards, and dedup per view.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setup } from './harness.mjs';

const C = '/contest/demo';
const board = (id, view, rows, extra = {}) => ({
  type: 'scoreboard_update', channel: C, id: String(id), timestamp: 1, view,
  data: { row_key: 'team', rows: rows.map(([team, solved]) => ({ team, solved })), ...extra },
});
const patch = (id, base, view, data) => ({ type: 'scoreboard_patch', channel: C, id: String(id), timestamp: 1, view, base: base === undefined ? undefined : String(base), data });
const solved = (b) => b.rows.map((r) => `${r.team}:${r.solved}`).join(' ');

async function connected(h) {
  h.client.connect();
  await h.flush();
  h.ws.accept();
}

test('boards is sent on subscribe from the client option, and a subscription may override it', async () => {
  const h = setup({ client: { boards: 'patch' } });
  h.client.subscribe(C);
  h.client.subscribe('/user/alice', { boards: 'full' });
  h.client.subscribe('/problem/p');
  await connected(h);
  assert.deepEqual(h.ws.msgsOfType('subscribe'), [
    { type: 'subscribe', channel: C, boards: 'patch' },
    { type: 'subscribe', channel: '/user/alice', boards: 'full' },
    { type: 'subscribe', channel: '/problem/p', boards: 'patch' },
  ]);
  const plain = setup();
  plain.client.subscribe(C);
  await connected(plain);
  assert.deepEqual(plain.ws.msgsOfType('subscribe'), [{ type: 'subscribe', channel: C }], 'unset: nothing sent');
});

test('a subscription keeps the board from a full board and patches, and emits board', async () => {
  const h = setup({ client: { boards: 'patch' } });
  const sub = h.client.subscribe(C);
  const changes = [];
  sub.on('board', (b) => changes.push([b.view, b.result, b.id, solved(b.board)]));
  await connected(h);
  h.ws.push({ type: 'subscribed', channel: C }, board(10, 'public', [['t1', 1], ['t2', 0]], { problems: ['A'] }));
  assert.equal(solved(sub.board), 't1:1 t2:0');
  h.ws.push(patch(12, 10, 'public', { rows: { t2: { team: 't2', solved: 2 } }, order: [{ t2: 0 }], fields: { minute: 5 } }));
  assert.equal(solved(sub.board), 't2:2 t1:1');
  assert.equal(sub.board.data.minute, 5);
  assert.equal(sub.board.version, '12');
  const ev = h.events.at(-1);
  assert.deepEqual([ev.type, ev.view, ev.base], ['scoreboard_patch', 'public', '10'], 'view and base reach handlers');
  assert.deepEqual(changes, [['public', 'board', '10', 't1:1 t2:0'], ['public', 'applied', '12', 't2:2 t1:1']]);
});

test('a gap resubscribes from the board version with snapshot:true once, and the fresh board heals it', async () => {
  const h = setup({ client: { boards: 'patch' } });
  const sub = h.client.subscribe(C);
  await connected(h);
  h.ws.push({ type: 'subscribed', channel: C }, board(10, 'public', [['t1', 1], ['t2', 0]]));
  h.ws.push({ type: 'run_update', channel: C, id: '11', data: { guid: 'g' } });
  h.ws.push(patch(14, 13, 'public', { rows: { t1: { team: 't1', solved: 9 } } }));
  h.ws.push(patch(15, 14, 'public', { rows: { t1: { team: 't1', solved: 8 } } }));
  assert.equal(solved(sub.board), 't1:1 t2:0', 'patches after a gap are not applied');
  assert.deepEqual(h.ws.msgs().filter((m) => m.type !== 'ping').slice(1), [
    { type: 'unsubscribe', channel: C },
    { type: 'subscribe', channel: C, since: '10', boards: 'patch', snapshot: true },
  ], 'asked once: leave the channel, subscribe again with since = the board version (below the last id 11) and snapshot');
  h.ws.push({ type: 'unsubscribed', channel: C, reason: 'requested' });
  assert.equal(sub.state, 'subscribed', 'our own unsubscribe does not end the subscription');
  assert.equal(sub.state, 'subscribed', 'the subscription stays subscribed');
  h.ws.push({ type: 'subscribed', channel: C, recovered: true }, board(15, 'public', [['t1', 8], ['t2', 0]]), patch(16, 15, 'public', { rows: { t2: { team: 't2', solved: 1 } } }));
  assert.equal(solved(sub.board), 't1:8 t2:1');
  assert.equal(h.resyncs.length, 0);
  // A later gap asks again.
  h.ws.push(patch(20, 19, 'public', { fields: { x: 1 } }));
  assert.equal(h.ws.msgsOfType('subscribe').length, 3);
  assert.equal(h.ws.msgsOfType('subscribe')[2].snapshot, true);
  h.ws.push({ type: 'subscribed', channel: C, recovered: true }, board(21, 'public', [['t1', 8], ['t2', 1]]));
  // A patch that does not fit (a row index past the end): the board is not
  // the server's any more, so it asks too, and keeps the board as it was.
  h.ws.push(patch(22, 21, 'public', { order: [{ t1: 5 }] }));
  assert.equal(solved(sub.board), 't1:8 t2:1');
  assert.equal(h.ws.msgsOfType('subscribe').length, 4);
  assert.deepEqual(h.ws.msgsOfType('subscribe')[3], { type: 'subscribe', channel: C, since: '11', boards: 'patch', snapshot: true }, 'since: the last other event (11) is older than the board');
});

test('a gap still open at a reconnect is asked for on the resubscribe; a patch without a board is a gap', async () => {
  const h = setup({ client: { boards: 'patch' } });
  const sub = h.client.subscribe(C);
  await connected(h);
  h.ws.push({ type: 'subscribed', channel: C }, patch(5, 4, 'public', { fields: { x: 1 } }));
  assert.equal(sub.board, undefined);
  assert.deepEqual(h.ws.msgsOfType('subscribe').at(-1), { type: 'subscribe', channel: C, since: '5', boards: 'patch', snapshot: true });
  h.ws.serverClose(4000, 'server shutdown');
  await h.clock.advance(100);
  h.ws.accept();
  assert.deepEqual(h.ws.msgsOfType('subscribe'), [{ type: 'subscribe', channel: C, since: '5', boards: 'patch', snapshot: true }]);
  h.ws.push({ type: 'subscribed', channel: C, recovered: true }, board(6, 'public', [['a', 1]]));
  assert.equal(solved(sub.board), 'a:1');
  h.ws.serverClose(4000, 'server shutdown');
  await h.clock.advance(100);
  h.ws.accept();
  assert.deepEqual(h.ws.msgsOfType('subscribe'), [{ type: 'subscribe', channel: C, since: '6', boards: 'patch' }], 'healed: no snapshot');
});

test('the board shown is admin over user:<me> over public, me from auth_success', async () => {
  const h = setup({ client: { boards: 'patch', token: 'tok' } });
  const sub = h.client.subscribe(C);
  await connected(h);
  h.ws.push({ type: 'auth_success', user: 'alice', expires: 4102444800 }, { type: 'subscribed', channel: C });
  assert.equal(h.client.user, 'alice');
  h.ws.push(board(10, 'public', [['t1', 1]]));
  assert.equal(sub.board.view, 'public');
  h.ws.push(board(11, 'user:alice', [['t1', 2]]));
  assert.equal(sub.board.view, 'user:alice');
  h.ws.push(patch(12, 10, 'public', { rows: { t1: { team: 't1', solved: 3 } } }));
  assert.equal(solved(sub.board), 't1:2', 'a public patch does not touch the own view');
  assert.equal(solved(sub.boardOf('public')), 't1:3');
  h.ws.push(board(13, 'admin', [['t1', 4]]));
  assert.equal(sub.board.view, 'admin');
});

test('dedup is per type and view: a patch folded ahead of another view\'s patch loses nothing', async () => {
  const h = setup({ client: { boards: 'patch' } });
  const sub = h.client.subscribe(C);
  await connected(h);
  h.ws.push({ type: 'subscribed', channel: C }, board(3, 'public', [['t', 0]]), board(4, 'admin', [['t', 0]]));
  // Queue: public#5 (folded with public#7, so it carries id 7), admin#6.
  h.ws.push(patch(7, 3, 'public', { rows: { t: { team: 't', solved: 7 } } }), patch(6, 4, 'admin', { rows: { t: { team: 't', solved: 6 } } }));
  assert.equal(solved(sub.boardOf('public')), 't:7');
  assert.equal(solved(sub.boardOf('admin')), 't:6');
  // A repeat of either is dropped before any handler sees it.
  const n = h.events.length;
  h.ws.push(patch(7, 3, 'public', {}), patch(6, 4, 'admin', {}));
  assert.equal(h.events.length, n);
  assert.equal(sub.lastId, '6', 'resume from the oldest view');
  // A fresh board with the id of the last patch is no duplicate.
  h.ws.push(board(7, 'public', [['t', 7]]));
  assert.equal(h.events.length, n + 1);
});

test('SSE: ?boards=patch on the stream, and a gap restarts the stream', async () => {
  const h = setup({ client: { boards: 'patch', transports: ['sse'] } });
  const sub = h.client.subscribe('/scoreboard/abc');
  h.client.connect();
  await h.flush();
  assert.equal(h.es.params.get('boards'), 'patch');
  h.es.accept();
  const ch = '/scoreboard/abc';
  h.es.push({ type: 'subscribed', channel: ch }, { ...board(10, 'public', [['t', 0]]), channel: ch });
  assert.equal(solved(sub.board), 't:0');
  h.es.push({ ...patch(13, 12, 'public', { fields: { x: 1 } }), channel: ch });
  await h.flush();
  assert.equal(h.streams.length, 2, 'the stream restarted');
  assert.equal(h.es.params.get('last_event_id'), '10');
  const none = setup({ client: { transports: ['sse'] } });
  none.client.subscribe('/scoreboard/abc');
  none.client.connect();
  await none.flush();
  assert.equal(none.es.params.get('boards'), null);
});

test('jitter_ms reaches handlers as jitterMs', async () => {
  const h = setup();
  h.client.subscribe(C);
  await connected(h);
  h.ws.push({ type: 'subscribed', channel: C }, { type: 'scoreboard_update', channel: C, id: '3', view: 'public', jitter_ms: 2000, data: { scoreboard_url: '/sb' } });
  assert.equal(h.events[0].jitterMs, 2000);
  assert.equal(h.events[0].view, 'public');
});
