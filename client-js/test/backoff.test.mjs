import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff, backoffDelay } from '../dist/index.js';

test('backoffDelay stays between min and the capped exponential bound', () => {
  for (let attempt = 0; attempt < 40; attempt++) {
    const cap = Math.min(10_000, 100 * 2 ** attempt);
    assert.equal(backoffDelay(attempt, 100, 10_000, () => 0), 100, `attempt ${attempt} low end`);
    const hi = backoffDelay(attempt, 100, 10_000, () => 0.999999);
    assert.ok(hi <= cap && hi >= cap - 1, `attempt ${attempt}: ${hi} near ${cap}`);
  }
});

test('backoffDelay is full jitter: random spreads delays over the whole range', () => {
  assert.equal(backoffDelay(3, 100, 10_000, () => 0.5), 100 + Math.floor(0.5 * (800 - 100)));
  const seen = new Set();
  for (let i = 0; i < 200; i++) seen.add(Math.floor(backoffDelay(5, 100, 10_000) / 500));
  assert.ok(seen.size >= 4, `delays clustered: ${[...seen]}`);
});

test('backoffDelay never exceeds max, even for huge attempts', () => {
  assert.equal(backoffDelay(1e9, 500, 20_000, () => 0.999999999), 19_999);
  assert.equal(backoffDelay(-3, 500, 20_000, () => 0.9), 500);
});

test('Backoff counts attempts and resets', () => {
  const b = new Backoff(100, 1000, () => 0.999999);
  assert.deepEqual([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()], [100, 199, 399, 799, 999, 999]);
  assert.equal(b.attempt, 6);
  b.reset();
  assert.equal(b.attempt, 0);
  assert.equal(b.next(), 100);
});
