// codes.ts mirrors the Go protocol package: this test reads the Go source and
// fails when the two drift apart.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { CloseCode, ErrorCode, ReplyType, ClientMessageType, UnsubscribeReason, EventType, closeReasons } from '../dist/index.js';

const go = (name) => readFileSync(new URL(`../../protocol/${name}`, import.meta.url), 'utf8');

test('close codes match protocol/codes.go', () => {
  const src = go('codes.go');
  const goCodes = Object.fromEntries([...src.matchAll(/^\s*Close(\w+)\s+CloseCode = (\d+)/gm)].map((m) => [m[1], Number(m[2])]));
  assert.ok(Object.keys(goCodes).length >= 10, 'found the Go close codes');
  assert.deepEqual(
    Object.fromEntries(Object.entries(CloseCode).sort()),
    Object.fromEntries(Object.entries(goCodes).sort()),
  );
  // Reason texts: `case CloseX:\n return "text"`.
  const reasons = Object.fromEntries([...src.matchAll(/case Close(\w+):\s*return "([^"]+)"/g)].map((m) => [goCodes[m[1]], m[2]]));
  assert.deepEqual(closeReasons, reasons);
});

test('error codes match protocol/codes.go', () => {
  const goErrs = [...go('codes.go').matchAll(/^\s*Err\w+\s+ErrorCode = "([a-z_]+)"/gm)].map((m) => m[1]).sort();
  assert.deepEqual(Object.values(ErrorCode).sort(), goErrs);
});

test('message types and reasons match protocol/message.go', () => {
  const src = go('message.go');
  const consts = (prefix) => [...src.matchAll(new RegExp(`^\\s*${prefix}\\w+\\s+= "([a-z_]+)"`, 'gm'))].map((m) => m[1]).sort();
  assert.deepEqual([...Object.values(ClientMessageType), ...Object.values(ReplyType)].sort(), consts('Msg'));
  assert.deepEqual(Object.values(UnsubscribeReason).sort(), consts('Reason'));
});

test('event types match protocol/event.go', () => {
  const goTypes = [...go('event.go').matchAll(/^\s*Type\w+\s+= "([a-z_]+)"/gm)].map((m) => m[1]).sort();
  assert.deepEqual(Object.values(EventType).sort(), goTypes);
});
