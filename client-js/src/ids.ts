/**
 * Event id comparison. Ids are decimal strings of increasing integers per
 * channel; they may exceed 2^53, so they are compared as digit strings,
 * never converted to numbers.
 *
 * @module
 */

const decimal = /^[0-9]+$/;

/** Reports whether id is a decimal event id. */
export function isDecimalId(id: unknown): id is string {
  return typeof id === 'string' && id.length > 0 && id.length <= 40 && decimal.test(id);
}

function strip(id: string): string {
  let i = 0;
  while (i < id.length - 1 && id.charCodeAt(i) === 48 /* 0 */) i++;
  return id.slice(i);
}

/**
 * Compares two decimal ids numerically: negative when a < b, zero when equal,
 * positive when a > b. Both must pass {@link isDecimalId}.
 */
export function compareIds(a: string, b: string): number {
  const x = strip(a);
  const y = strip(b);
  if (x.length !== y.length) return x.length - y.length;
  return x < y ? -1 : x > y ? 1 : 0;
}
