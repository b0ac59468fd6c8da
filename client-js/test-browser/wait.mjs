// Waiting for conditions instead of sleeping.
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Polls fn until it returns a truthy value (returned) or throws (rethrown);
 * fails after timeout ms with a message naming what was awaited.
 */
export async function waitFor(fn, { timeout = 30_000, interval = 50, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(interval);
  }
}
