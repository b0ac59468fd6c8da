/**
 * Full-jitter exponential backoff.
 *
 * @module
 */

/**
 * Returns the delay in milliseconds before reconnect attempt `attempt`
 * (0 for the first retry): a uniformly random value between `min` and
 * `min(max, min * 2^attempt)`, so retries spread out instead of arriving in
 * waves after a server restart.
 *
 * @param random a function returning a number in [0, 1); Math.random by default.
 */
export function backoffDelay(attempt: number, min: number, max: number, random: () => number = Math.random): number {
  const lo = Math.max(0, min);
  const hi = Math.max(lo, max);
  const step = Math.min(Math.max(0, Math.floor(attempt)), 30);
  const cap = Math.min(hi, lo * 2 ** step);
  return Math.floor(lo + random() * (cap - lo));
}

/** Counts consecutive failures and yields the matching backoff delay. */
export class Backoff {
  private attempts = 0;

  /**
   * @param min smallest delay in milliseconds
   * @param max largest delay in milliseconds
   * @param random source of randomness in [0, 1)
   */
  constructor(
    private readonly min: number,
    private readonly max: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** Returns the next delay and counts one more attempt. */
  next(): number {
    const d = backoffDelay(this.attempts, this.min, this.max, this.random);
    this.attempts++;
    return d;
  }

  /** Forgets the failures, after a connection proved healthy. */
  reset(): void {
    this.attempts = 0;
  }

  /** The number of delays handed out since the last reset. */
  get attempt(): number {
    return this.attempts;
  }
}
