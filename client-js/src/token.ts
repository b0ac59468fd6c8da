/**
 * Keeping the token: the current one, its expiry, and fetching a fresh one
 * with `getToken()` when it is missing, stale or about to expire.
 *
 * @module
 */

import type { Clock } from './clock.js';

/** A token this close to expiry (ms) is replaced before connecting. */
const connectMargin = 30_000;

/** Returns the `exp` claim (Unix seconds) of a compact JWT, read without verifying, or undefined. */
export function jwtExpiry(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const padded = b64 + '='.repeat((4 - (b64.length % 4)) % 4);
    const json = typeof atob === 'function' ? atob(padded) : '';
    const claims: unknown = JSON.parse(json);
    if (typeof claims === 'object' && claims !== null) {
      const exp = (claims as { exp?: unknown }).exp;
      if (typeof exp === 'number' && Number.isFinite(exp)) return exp;
    }
  } catch {
    // Not a JWT we can read: the server will tell.
  }
  return undefined;
}

/** Thrown by {@link TokenKeeper.forConnect} when getToken fails; `cause` holds its error. */
export class TokenUnavailableError extends Error {
  constructor(cause: unknown) {
    super('getToken failed', { cause });
    this.name = 'TokenUnavailableError';
  }
}

/** Holds the client's token. @internal */
export class TokenKeeper {
  private current: string | undefined;
  private exp: number | undefined;
  private stale = false;
  private pending: Promise<string | undefined> | null = null;

  constructor(
    private readonly getToken: (() => Promise<string>) | undefined,
    private readonly clock: Clock,
    token?: string,
  ) {
    if (token) this.set(token);
  }

  /** The current token, if any. */
  get token(): string | undefined {
    return this.current;
  }

  /** Unix seconds the token expires: from auth_success, else from its exp claim. */
  get expires(): number | undefined {
    return this.exp;
  }

  set expires(v: number | undefined) {
    this.exp = v;
  }

  /** Whether a fresh token can be had (getToken was given). */
  get canRefresh(): boolean {
    return !!this.getToken;
  }

  /** Replaces the token. */
  set(token: string): void {
    this.current = token;
    this.exp = jwtExpiry(token);
    this.stale = false;
  }

  /** Marks the token as refused or expired: the next connect fetches a fresh one, when it can. */
  markStale(): void {
    if (this.getToken) this.stale = true;
  }

  /** Fetches a token with getToken, sharing one call among concurrent callers. */
  fetch(): Promise<string | undefined> {
    const get = this.getToken;
    if (!get) return Promise.resolve(this.current);
    if (!this.pending) {
      this.pending = get().then(
        (t) => {
          this.pending = null;
          this.set(t);
          return t;
        },
        (err: unknown) => {
          this.pending = null;
          throw err;
        },
      );
    }
    return this.pending;
  }

  /**
   * The token to connect with: fetched first when missing, stale or about to
   * expire. Throws {@link TokenUnavailableError} when getToken fails.
   */
  async forConnect(): Promise<string | undefined> {
    if (!this.getToken) return this.current;
    const expiring = this.exp !== undefined && this.exp * 1000 - this.clock.now() < connectMargin;
    if (!this.current || this.stale || expiring) {
      try {
        return await this.fetch();
      } catch (err) {
        throw new TokenUnavailableError(err);
      }
    }
    return this.current;
  }
}
