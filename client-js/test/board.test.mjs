// The keyed board model of protocol section 8: full boards, delivered
// patches (fields, rows, order), versions, stale patches and gaps, views.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BoardSet, KeyedBoard, isKeyedBoard } from '../dist/index.js';

const full = () => ({
  row_key: 'team',
  problems: ['A', 'B'],
  rows: [
    { team: 't1', rank: 1, solved: 2 },
    { team: 't2', rank: 2, solved: 1 },
    { team: 't3', rank: 3, solved: 0 },
    { team: 't4', rank: 4, solved: 0 },
  ],
});
const keys = (b) => b.rows.map((r) => r.team);

test('isKeyedBoard accepts keyed boards and refuses the rest', () => {
  assert.ok(isKeyedBoard(full()));
  assert.ok(isKeyedBoard({ row_key: 'u', rows: [] }));
  for (const bad of [
    null, [], { rows: [] }, { row_key: 'u' }, { row_key: 'u', rows: {} }, { row_key: 1, rows: [] },
    { row_key: 'u', rows: [1] }, { row_key: 'u', rows: [{ u: 1 }] }, { row_key: 'u', rows: [{ u: 'a' }, { u: 'a' }] },
    { scoreboard_url: '/x' },
  ]) assert.equal(isKeyedBoard(bad), false, JSON.stringify(bad));
});

test('a full board is copied, not shared, and keeps its other members', () => {
  const src = full();
  const b = new KeyedBoard('public', src, '10');
  src.rows.pop();
  assert.equal(b.rows.length, 4);
  assert.deepEqual(b.data.problems, ['A', 'B']);
  assert.equal(b.data.row_key, 'team');
  assert.equal(b.version, '10');
  assert.equal(b.row('t2').rank, 2);
});

test('a patch applies fields, then rows, then each order map, and sets the version', () => {
  const b = new KeyedBoard('public', full(), '10');
  const t1 = b.rows[0];
  const r = b.applyPatch(
    {
      fields: { time_elapsed: 3600, problems: null },
      rows: { t3: { team: 't3', rank: 1, solved: 3 }, t2: null, t9: { team: 't9', rank: 4, solved: 0 } },
      order: [{ t3: 0 }, { t9: 1 }],
    },
    '12',
    '10',
  );
  assert.equal(r, 'applied');
  assert.equal(b.version, '12');
  assert.equal(b.data.time_elapsed, 3600);
  assert.equal('problems' in b.data, false, 'null removes a member');
  // rows: t2 removed, t3 replaced, t9 appended: t1 t3 t4 t9; then t3 to 0: t3 t1 t4 t9; then t9 to 1: t3 t9 t1 t4.
  assert.deepEqual(keys(b), ['t3', 't9', 't1', 't4']);
  assert.equal(b.row('t1'), t1, 'an unchanged row keeps its object');
  assert.deepEqual(b.row('t3'), { team: 't3', rank: 1, solved: 3 });
  assert.equal(b.row('t2'), undefined);
});

test('an order map puts its rows back in increasing index order', () => {
  const b = new KeyedBoard('public', full(), '1');
  // t4 to 0 and t1 to 3 at once: the others (t2 t3) fill places 1 and 2.
  assert.equal(b.applyPatch({ order: [{ t1: 3, t4: 0 }] }, '2', '1'), 'applied');
  assert.deepEqual(keys(b), ['t4', 't2', 't3', 't1']);
  // Listed out of index order: t2 to 2, t3 to 0.
  assert.equal(b.applyPatch({ order: [{ t2: 2, t3: 0 }] }, '3', '2'), 'applied');
  assert.deepEqual(keys(b), ['t3', 't4', 't2', 't1']);
});

test('stale patches are dropped, and a base that is not the version is a gap', () => {
  const b = new KeyedBoard('public', full(), '10');
  assert.equal(b.applyPatch({ fields: { x: 1 } }, '10', '9'), 'stale');
  assert.equal(b.applyPatch({ fields: { x: 1 } }, '9', '8'), 'stale');
  assert.equal(b.applyPatch({ fields: { x: 1 } }, '12', '11'), 'gap');
  assert.equal(b.version, '10');
  assert.equal('x' in b.data, false);
  assert.equal(b.applyPatch({ fields: { x: 2 } }, '13', '10'), 'applied', 'the right base applies');
  assert.equal(b.applyPatch({ fields: { x: 3 } }, '15'), 'applied', 'no base: applied on the id alone');
  assert.equal(b.data.x, 3);
  assert.equal(b.applyPatch({ fields: { x: 4 } }, '90071992547409930', '15'), 'applied', 'ids compared as decimals');
  assert.equal(b.applyPatch({ fields: { x: 5 } }, '9007199254740994', '90071992547409930'), 'stale');
});

test('a patch that does not fit changes nothing', () => {
  const b = new KeyedBoard('public', full(), '1');
  const before = JSON.stringify(b.data);
  for (const bad of [
    null, 'x', { nope: 1 }, { rows: [] }, { rows: { t1: { team: 'other' } } }, { rows: { t1: 5 } },
    { order: {} }, { order: [{ t1: 4 }] }, { order: [{ t1: 0, t2: 0 }] }, { order: [{ t7: 0 }] }, { order: [{ t1: -1 }] },
    { fields: { rows: [] } }, { fields: { row_key: 'x' } }, { fields: 3 },
    // Valid rows, then an order that is not: all or nothing.
    { fields: { y: 1 }, rows: { t1: null }, order: [{ t2: 3 }] },
  ]) assert.equal(b.applyPatch(bad, '2', '1'), 'invalid', JSON.stringify(bad));
  assert.equal(JSON.stringify(b.data), before);
  assert.equal(b.version, '1');
});

test('replace keeps equal rows, removes dropped members, and refuses older boards', () => {
  const b = new KeyedBoard('public', { ...full(), frozen: false }, '5');
  const [t1, t2] = b.rows;
  const next = full();
  next.rows[1] = { team: 't2', rank: 2, solved: 2 };
  next.rows.splice(2, 1);
  assert.equal(b.replace(next, '9'), true);
  assert.equal(b.rows[0], t1);
  assert.notEqual(b.rows[1], t2);
  assert.deepEqual(b.data, next);
  assert.equal(b.version, '9');
  assert.equal(b.replace(full(), '9'), false);
  assert.deepEqual(b.data, next);
});

test('containers: the board changes the arrays and objects it was given in place', () => {
  const made = [];
  const b = new KeyedBoard('public', full(), '1', { rows: (r) => (made.push(r), r), data: (d) => (made.push(d), d) });
  assert.equal(made[0], b.rows);
  assert.equal(made[1], b.data);
  b.applyPatch({ rows: { t4: null } }, '2', '1');
  assert.equal(made[0], b.rows);
  assert.equal(b.rows.length, 3);
});

test('BoardSet keeps one board per view and shows admin over user:<me> over public', () => {
  const s = new BoardSet();
  assert.equal(s.handle('run_update', {}, '1'), undefined);
  assert.equal(s.handle('scoreboard_update', { scoreboard_url: '/x' }, '1', 'public'), undefined, 'opaque');
  assert.deepEqual(s.handle('scoreboard_patch', { fields: {} }, '2', 'public', '1'), { view: 'public', result: 'gap' }, 'no board yet');
  assert.deepEqual(s.handle('scoreboard_update', full(), '3', 'public'), { view: 'public', result: 'board' });
  assert.equal(s.current('alice').view, 'public');
  s.handle('scoreboard_update', { ...full(), rows: [] }, '4', 'user:alice');
  assert.equal(s.current('alice').view, 'user:alice');
  assert.equal(s.current('bob').view, 'public', "another user's view is not shown");
  s.handle('scoreboard_update', full(), '5', 'admin');
  assert.equal(s.current('alice').view, 'admin');
  assert.deepEqual(s.handle('scoreboard_patch', { rows: { t1: null } }, '6', 'public', '3'), { view: 'public', result: 'applied' });
  assert.equal(s.get('public').rows.length, 3);
  assert.equal(s.get('admin').rows.length, 4, 'a patch touches only its own view');
  assert.deepEqual(s.handle('scoreboard_update', full(), '3', 'public'), { view: 'public', result: 'stale' });
  assert.deepEqual(s.views().sort(), ['admin', 'public', 'user:alice']);
});
