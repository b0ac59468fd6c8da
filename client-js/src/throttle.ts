/**
 * A leading-and-trailing throttle.
 *
 * @module
 */

/** A throttled function with a way to drop its pending trailing call. */
export interface Throttled<A extends unknown[]> {
  (...args: A): void;
  cancel(): void;
}

/**
 * Returns fn throttled to at most one call per ms: the first call runs at
 * once, calls within the window collapse into one trailing call with the
 * newest arguments.
 */
export function throttle<A extends unknown[]>(fn: (...args: A) => void, ms: number): Throttled<A> {
  let last = -Infinity;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let pending: A | undefined;
  const run = (args: A): void => {
    last = Date.now();
    fn(...args);
  };
  const t = ((...args: A) => {
    const wait = last + ms - Date.now();
    if (wait <= 0 && timer === undefined) {
      run(args);
      return;
    }
    pending = args;
    if (timer === undefined) {
      timer = setTimeout(() => {
        timer = undefined;
        const a = pending;
        pending = undefined;
        if (a) run(a);
      }, Math.max(0, wait));
    }
  }) as Throttled<A>;
  t.cancel = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    pending = undefined;
  };
  return t;
}
