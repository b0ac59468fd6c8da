import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareIds, isDecimalId, parseFrame } from '../dist/index.js';

test('compareIds compares decimal strings numerically, beyond 2^53', () => {
  assert.ok(compareIds('9', '10') < 0);
  assert.ok(compareIds('10', '9') > 0);
  assert.equal(compareIds('42', '42'), 0);
  assert.equal(compareIds('0042', '42'), 0);
  assert.ok(compareIds('9007199254740993', '9007199254740992') > 0); // equal as Numbers
  assert.ok(compareIds('18446744073709551615', '18446744073709551614') > 0);
});

test('isDecimalId accepts only decimal strings', () => {
  assert.ok(isDecimalId('1235'));
  for (const bad of ['', '12a', '-1', '1.5', 12, null, undefined]) assert.ok(!isDecimalId(bad), String(bad));
});

test('parseFrame parses one object', () => {
  assert.deepEqual(parseFrame('{"type":"pong"}'), { messages: [{ type: 'pong' }], bad: 0 });
});

test('parseFrame splits a batch on newlines', () => {
  const f = parseFrame('{"type":"a","id":"1"}\n{"type":"b","id":"2"}\n\n{"type":"c","id":"3"}\n');
  assert.deepEqual(f.messages.map((m) => m.type), ['a', 'b', 'c']);
  assert.equal(f.bad, 0);
});

test('parseFrame keeps an object whose pretty-printed JSON has raw newlines whole', () => {
  const f = parseFrame('{\n "type": "run_update",\n "data": {"x": 1}\n}');
  assert.deepEqual(f.messages, [{ type: 'run_update', data: { x: 1 } }]);
});

test('parseFrame counts lines that are not JSON objects', () => {
  const f = parseFrame('{"type":"a"}\nnot json\n[1,2]');
  assert.equal(f.messages.length, 1);
  assert.equal(f.bad, 2);
});
