/**
 * SSE tickets: `POST /events/ticket` with the token as a bearer credential
 * answers a short-lived ticket that an EventSource URL can carry.
 *
 * @module
 */

import type { TokenKeeper } from './token.js';
import type { FetchLike, StreamRefusal } from './transport.js';

/** A ticket request the server refused; `refusal` holds its status and error body. */
export class TicketError extends Error {
  constructor(message: string, readonly refusal?: StreamRefusal) {
    super(message);
    this.name = 'TicketError';
  }
}

/**
 * Gets a ticket for the current token; undefined when there is no token.
 * A 401 is retried once with a fresh token when getToken exists. Throws
 * TicketError for other refusals, TokenUnavailableError when getToken fails,
 * and the fetch error when the server cannot be reached.
 */
export async function fetchTicket(f: FetchLike | undefined, url: string, tokens: TokenKeeper): Promise<string | undefined> {
  let token = await tokens.forConnect();
  if (!token) return undefined;
  if (!f) throw new Error('no fetch function for the SSE ticket');
  const ask = (t: string) => f(url, { method: 'POST', headers: { Authorization: `Bearer ${t}` } });
  let res = await ask(token);
  if (res.status === 401 && tokens.canRefresh) {
    tokens.markStale();
    token = await tokens.forConnect();
    if (!token) return undefined;
    res = await ask(token);
  }
  let body: Record<string, unknown> = {};
  try {
    body = (await res.json()) as Record<string, unknown>;
  } catch {
    // Checked below.
  }
  if (!res.ok) {
    throw new TicketError(`HTTP ${res.status}`, {
      status: res.status,
      error: typeof body.error === 'string' ? body.error : undefined,
      message: typeof body.message === 'string' ? body.message : undefined,
    });
  }
  if (typeof body.ticket !== 'string') throw new Error('ticket reply without a ticket');
  return body.ticket;
}
