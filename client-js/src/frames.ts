/**
 * Frame parsing. With `?batch=1` one WebSocket frame may hold several JSON
 * objects separated by newlines; a frame holding one object (possibly with
 * raw newlines inside strings) parses as a whole.
 *
 * @module
 */

/** The result of parsing one frame: the objects found and the lines that were not JSON objects. */
export interface ParsedFrame {
  messages: Record<string, unknown>[];
  bad: number;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parses a text frame: JSON.parse on the whole frame first, and when that
 * fails, each non-empty line on its own.
 */
export function parseFrame(text: string): ParsedFrame {
  const out: ParsedFrame = { messages: [], bad: 0 };
  try {
    const v: unknown = JSON.parse(text);
    if (isObject(v)) out.messages.push(v);
    else out.bad++;
    return out;
  } catch {
    // Several objects, one a line.
  }
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const v: unknown = JSON.parse(line);
      if (isObject(v)) out.messages.push(v);
      else out.bad++;
    } catch {
      out.bad++;
    }
  }
  return out;
}
