import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runUpdate, setup } from './harness.mjs';

const C = '/contest/demo';

async function connected(h) {
  h.client.connect();
  await h.flush();
  h.ws.accept();
}

test('after a reconnect each channel resubscribes with since = its last id', async () => {
  const h = setup();
  h.client.subscribe(C);
  h.client.subscribe('/user/alice');
  h.client.subscribe('/problem/quiet');
  await connected(h);
  h.ws.push({ type: 'subscribed', channel: C }, { type: 'subscribed', channel: '/user/alice' }, { type: 'subscribed', channel: '/problem/quiet' });
  h.ws.push(runUpdate(C, 5), runUpdate('/user/alice', 6), runUpdate(C, 9));
  h.ws.serverClose(4001, 'slow consumer');
  await h.clock.advance(100);
  h.ws.accept();
  const subs = h.ws.msgsOfType('subscribe');
  assert.deepEqual(subs, [
    { type: 'subscribe', channel: C, since: '9' },
    { type: 'subscribe', channel: '/user/alice', since: '6' },
    { type: 'subscribe', channel: '/problem/quiet' },
  ]);
});

test('duplicates are dropped per channel: replayed and repeated ids are delivered once', async () => {
  const h = setup();
  h.client.subscribe(C);
  h.client.subscribe('/user/alice');
  await connected(h);
  h.ws.push({ type: 'subscribed', channel: C }, { type: 'subscribed', channel: '/user/alice' });
  h.ws.push(runUpdate(C, 10), runUpdate(C, 10), runUpdate(C, 9), runUpdate('/user/alice', 3), runUpdate(C, 11));
  assert.deepEqual(h.events.map((e) => `${e.channel}#${e.id}`), [`${C}#10`, '/user/alice#3', `${C}#11`]);
  // The server replays from since and overlaps at the seam.
  h.ws.serverClose(4000, 'server shutdown');
  await h.clock.advance(100);
  h.ws.accept();
  h.ws.push({ type: 'subscribed', channel: C, recovered: true }, runUpdate(C, 11), runUpdate(C, 12));
  assert.deepEqual(h.events.map((e) => e.id), ['10', '3', '11', '12']);
  assert.equal(h.resyncs.length, 0, 'recovered:true needs no resync');
});

test('ids past 2^53 are compared exactly', async () => {
  const h = setup();
  h.client.subscribe(C);
  await connected(h);
  h.ws.push({ type: 'subscribed', channel: C });
  h.ws.push(runUpdate(C, '9007199254740992'), runUpdate(C, '9007199254740993'), runUpdate(C, '9007199254740993'));
  assert.deepEqual(h.events.map((e) => e.id), ['9007199254740992', '9007199254740993']);
});

test('recovered:false emits resync on the subscription and the client', async () => {
  const h = setup();
  const sub = h.client.subscribe(C);
  const subResyncs = [];
  sub.on('resync', (r) => subResyncs.push(r));
  await connected(h);
  h.ws.push({ type: 'subscribed', channel: C }, runUpdate(C, 4));
  assert.equal(h.resyncs.length, 0);
  h.ws.serverClose(4000);
  await h.clock.advance(100);
  h.ws.accept();
  h.ws.push({ type: 'subscribed', channel: C, recovered: false });
  assert.deepEqual(subResyncs, [{ channel: C, reason: 'not_recovered', since: '4' }]);
  assert.deepEqual(h.resyncs, subResyncs);
  h.ws.push(runUpdate(C, 900));
  assert.deepEqual(h.events.map((e) => e.id), ['4', '900'], 'live events follow');
});

test('a baseline server (no ids, no recovered, no batching) still works', async () => {
  const h = setup({ client: { batch: false, token: 'tok' } });
  h.client.subscribe(C);
  await connected(h);
  assert.equal(h.ws.url, 'wss://arena.test/events/');
  h.ws.push({ type: 'auth_success' }, { type: 'subscribed', channel: C });
  const ev = { type: 'run_update', channel: C, timestamp: 1704067200, data: { guid: 'a' } };
  h.ws.push(ev, ev, { ...ev, data: { guid: 'b' } });
  assert.equal(h.events.length, 3, 'events without ids cannot be told apart, so all are delivered');
  assert.equal(h.events[0].id, undefined);
  h.ws.serverClose(1006);
  await h.clock.advance(100);
  h.ws.accept();
  assert.deepEqual(h.ws.msgsOfType('subscribe'), [{ type: 'subscribe', channel: C }], 'no since without an id');
  h.ws.push({ type: 'subscribed', channel: C });
  assert.deepEqual(h.resyncs, [{ channel: C, reason: 'no_position' }], 'the gap is reported');
  assert.equal(h.client.state, 'connected');
});

test('a server that ignores since (no recovered field) triggers resync', async () => {
  const h = setup();
  h.client.subscribe(C);
  await connected(h);
  h.ws.push({ type: 'subscribed', channel: C }, runUpdate(C, 2));
  h.ws.serverClose(4000);
  await h.clock.advance(100);
  h.ws.accept();
  h.ws.push({ type: 'subscribed', channel: C });
  assert.deepEqual(h.resyncs, [{ channel: C, reason: 'no_resume_support', since: '2' }]);
});

test('batched frames deliver every event in order', async () => {
  const h = setup();
  h.client.subscribe(C);
  await connected(h);
  h.ws.push([{ type: 'subscribed', channel: C }, runUpdate(C, 1), runUpdate(C, 2), runUpdate(C, 3)].map((o) => JSON.stringify(o)).join('\n'));
  assert.deepEqual(h.events.map((e) => e.id), ['1', '2', '3']);
  h.ws.push('garbage\n' + JSON.stringify(runUpdate(C, 4)));
  assert.deepEqual(h.events.map((e) => e.id), ['1', '2', '3', '4']);
  assert.equal(h.errors.at(-1).source, 'frame');
});

test('a repeated subscribed reply (idempotent subscribe) changes nothing', async () => {
  const h = setup();
  const sub = h.client.subscribe(C);
  const seen = [];
  sub.on('subscribed', (s) => seen.push(s));
  await connected(h);
  h.ws.push({ type: 'subscribed', channel: C }, { type: 'subscribed', channel: C });
  assert.equal(seen.length, 1);
});

test('subscribing again after unsubscribe resumes from the last id', async () => {
  const h = setup();
  const sub = h.client.subscribe(C);
  await connected(h);
  h.ws.push({ type: 'subscribed', channel: C }, runUpdate(C, 3));
  sub.unsubscribe();
  sub.subscribe();
  assert.deepEqual(h.ws.msgs().slice(-2), [
    { type: 'unsubscribe', channel: C },
    { type: 'subscribe', channel: C, since: '3' },
  ]);
});

test('a coalesced scoreboard that overtook smaller ids does not hide them, and resume starts before them', async () => {
  const h = setup();
  h.client.subscribe(C);
  await connected(h);
  const board = (id) => ({ type: 'scoreboard_update', channel: C, id: String(id), data: { v: id } });
  // Server queue was [board 10, run 11]; board 12 replaced board 10 in place.
  h.ws.push({ type: 'subscribed', channel: C }, board(12), runUpdate(C, 11));
  assert.deepEqual(h.events.map((e) => e.id), ['12', '11']);
  h.ws.serverClose(4000);
  await h.clock.advance(100);
  h.ws.accept();
  assert.equal(h.ws.msgsOfType('subscribe')[0].since, '11');
  h.ws.push({ type: 'subscribed', channel: C, recovered: true }, board(12), runUpdate(C, 11), runUpdate(C, 13), board(14));
  assert.deepEqual(h.events.map((e) => e.id), ['12', '11', '13', '14'], 'the replay adds only what was new');
});

test('subscribe with since resumes a new subscription from that id; a position it has wins', async () => {
  const h = setup();
  const sub = h.client.subscribe(C, { since: '120' });
  await connected(h);
  assert.deepEqual(h.ws.msgsOfType('subscribe'), [{ type: 'subscribe', channel: C, since: '120' }]);
  h.ws.push({ type: 'subscribed', channel: C, recovered: true }, runUpdate(C, 119), runUpdate(C, 121));
  assert.deepEqual(h.events.map((e) => e.id), ['121'], 'nothing at or before since');
  assert.equal(h.resyncs.length, 0);
  // Asked again with an older id, the subscription keeps its own position.
  h.client.subscribe(C, { since: '5' });
  h.ws.serverClose(4000);
  await h.clock.advance(100);
  h.ws.accept();
  assert.deepEqual(h.ws.msgsOfType('subscribe'), [{ type: 'subscribe', channel: C, since: '121' }]);
  assert.equal(sub.lastId, '121');
  assert.throws(() => h.client.subscribe('/user/alice', { since: 'x1' }), TypeError);
  assert.equal(h.client.getSubscription('/user/alice'), undefined, 'a refused call leaves nothing behind');
});

test('the stored scoreboard sent after subscribed is marked snapshot; other events are not', async () => {
  const h = setup();
  h.client.subscribe(C);
  await connected(h);
  const board = { type: 'scoreboard_update', channel: C, id: '7', timestamp: 1704067200, data: { r: 1 } };
  h.ws.push({ type: 'subscribed', channel: C }, { ...board, snapshot: true }, runUpdate(C, 8), { ...board, id: '9' });
  assert.deepEqual(h.events.map((e) => [e.id, e.snapshot]), [['7', true], ['8', undefined], ['9', undefined]]);
  assert.ok(!('snapshot' in h.events[1]), 'no snapshot key on other events');
});
