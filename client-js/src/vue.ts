/**
 * Vue 3 composables over {@link ArenacastClient}: `useEventStream` for a
 * contest and `useScoreboard` for a public `/scoreboard/<token>` link. They
 * return shallowRefs and clean up when their effect scope is disposed, so
 * they work in components and in any `effectScope()`.
 *
 * @module
 */

import {
  type MaybeRefOrGetter,
  type ShallowRef,
  getCurrentScope,
  onScopeDispose,
  shallowReactive,
  shallowRef,
  toValue,
  watch,
} from 'vue';
import type { BoardContainers, KeyedBoard } from './board.js';
import { ArenacastClient } from './client.js';
import type { ClientOptions } from './options.js';
import { type ConnectionState, EventType } from './codes.js';
import type { BoardsMode, Subscription } from './subscription.js';
import { throttle } from './throttle.js';
import type { ErrorContext, StreamEvent } from './types.js';

/** What `fetchScoreboard` is called with. */
export interface ScoreboardFetchContext {
  /** The `scoreboard_url` the update carried, when it carried one. */
  url?: string;
  /** The contest alias from the update, or the one the composable was given. */
  contestAlias?: string;
  /** Why: an update that carried only a URL, or a resync after missed events. */
  reason: 'update' | 'resync';
}

/** Options shared by both composables. */
export interface StreamOptions<S> {
  /** The broadcaster's `/events/` URL. Required unless `client` is given. */
  url?: string;
  /**
   * Fetches the scoreboard over the platform's API, for updates that carry
   * only a `scoreboard_url` and after a resync. Calls are throttled.
   */
  fetchScoreboard?: (ctx: ScoreboardFetchContext) => Promise<S>;
  /** Smallest interval between two fetchScoreboard calls, in ms. Defaults to 1000. */
  fetchThrottle?: number;
  /**
   * How keyed scoreboards arrive (protocol section 8). Defaults to `patch`:
   * the board once, then only changed rows, applied in place to
   * `scoreboard`. `full`: a whole board per change (applied in place too).
   */
  boards?: BoardsMode;
  /** Randomness in [0, 1) for the refetch jitter (`jitter_ms`). Defaults to Math.random. */
  random?: () => number;
  /** Connect at once. Defaults to true; otherwise call `open()`. */
  immediate?: boolean;
  /** Use this client instead of making one; it is not disconnected on dispose. */
  client?: ArenacastClient;
  /** More options for the client the composable makes. */
  clientOptions?: Partial<ClientOptions>;
}

/** Options of {@link useEventStream}. */
export interface UseEventStreamOptions<S = unknown> extends StreamOptions<S> {
  /** A JWT; see {@link ClientOptions.token}. */
  token?: string;
  /** Returns a fresh JWT; see {@link ClientOptions.getToken}. */
  getToken?: () => Promise<string>;
  /**
   * The signed-in user. When set, `runs` keeps only run updates whose
   * `data.username` is this user (or names no user); otherwise every run
   * update the server lets through is kept.
   */
  username?: string;
}

/** A run update's data as the platform sends it; `guid` is the key. */
export interface RunData {
  guid: string;
  [key: string]: unknown;
}

/** A clarification's data as the platform sends it. */
export interface ClarificationData {
  clarification_id?: number | string;
  [key: string]: unknown;
}

/** What both composables return. */
export interface StreamState<S> {
  /** The connection state: 'disconnected' | 'connecting' | 'connected'. */
  status: ShallowRef<ConnectionState>;
  /**
   * The latest scoreboard: from the snapshot, a `scoreboard_update`, or
   * fetchScoreboard. A keyed board (`row_key`, `rows`) is kept live from
   * patches: the value is then one shallowReactive object in the
   * publisher's shape whose `rows` is a shallowReactive array, changed in
   * place; a row that changed is a new object, the others keep theirs.
   */
  scoreboard: ShallowRef<S | null>;
  /** The keyed board shown (its view and version), or null when the board is opaque or none came. */
  board: ShallowRef<BoardInfo | null>;
  /** The data of the latest `contest_update`. */
  contest: ShallowRef<unknown>;
  /** The last error, or null. */
  error: ShallowRef<ErrorContext | null>;
  /** The client underneath. */
  client: ArenacastClient;
  /** Connects (when `immediate` was false, or after close). */
  open(): void;
  /** Disconnects; `open()` connects again. */
  close(): void;
}

/** What {@link useEventStream} returns. */
export interface EventStreamState<S> extends StreamState<S> {
  /** Clarifications in arrival order; an answer replaces its question (same clarification_id). */
  clarifications: ShallowRef<readonly ClarificationData[]>;
  /** The user's runs by guid, newest state of each. */
  runs: ShallowRef<Readonly<Record<string, RunData>>>;
}

/** Which keyed board `scoreboard` shows. */
export interface BoardInfo {
  /** `admin`, `user:<name>` or `public`: the most specific view the subscriber has. */
  view: string;
  /** The id of the last event folded into it. */
  version?: string;
  /** The name of the rows' key member. */
  rowKey: string;
}

// Why shallowReactive, and not reactive or a new array per patch: a patch
// replaces a changed row with a whole new object (the delivered form carries
// whole rows), so the rows are immutable snapshots and tracking their
// insides (reactive's deep proxies, 500 rows of nested cells) would only
// cost. A shallowReactive array tracks writes per index: the board writes
// only the indices whose row changed or moved, so a row component that
// takes its row as a prop re-renders only when its object changed, and
// rows compare by identity with what the server sent. A new array per patch
// would make every row's place look changed to watchers of the array.
const reactiveBoards: BoardContainers = {
  rows: (rows) => shallowReactive(rows),
  data: (data) => shallowReactive(data),
};

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Splits a scoreboard_update's data into a scoreboard, or a URL to fetch one from. */
function readScoreboard(data: unknown): { board?: unknown; url?: string; alias?: string } {
  if (!isRecord(data)) return { board: data };
  const alias = typeof data.contest_alias === 'string' ? data.contest_alias : undefined;
  if ('scoreboard' in data) return { board: data.scoreboard, alias };
  const url = typeof data.scoreboard_url === 'string' ? data.scoreboard_url : undefined;
  const onlyPointers = Object.keys(data).every((k) => k === 'contest_alias' || k === 'scoreboard_url');
  if (url && onlyPointers) return { url, alias };
  return { board: data, alias };
}

/**
 * The part both composables share: the client, the status, the scoreboard
 * and the subscription to a channel that may change.
 */
function useChannel<S>(
  channel: () => string | undefined,
  options: StreamOptions<S> & Pick<ClientOptions, 'token' | 'getToken'>,
  alias: () => string | undefined,
  onEvent: (ev: StreamEvent) => void,
  onReset: () => void,
): StreamState<S> {
  const owned = !options.client;
  if (!options.client && !options.url) throw new Error('useEventStream: options.url or options.client is required');
  const client =
    options.client ??
    new ArenacastClient({ ...options.clientOptions, url: options.url as string, token: options.token, getToken: options.getToken });
  const status = shallowRef<ConnectionState>(client.state);
  const scoreboard = shallowRef<S | null>(null);
  const contest = shallowRef<unknown>(null);
  const error = shallowRef<ErrorContext | null>(null);
  const board = shallowRef<BoardInfo | null>(null);
  const random = options.random ?? Math.random;

  let lastUrl: string | undefined;
  // A keyed board came on this channel: the server keeps it current, so
  // fetchScoreboard is never needed.
  let keyed = false;
  let jitterTimer: ReturnType<typeof setTimeout> | undefined;
  let jittered: ScoreboardFetchContext | undefined;
  const cancelJitter = (): void => {
    if (jitterTimer !== undefined) clearTimeout(jitterTimer);
    jitterTimer = undefined;
    jittered = undefined;
  };
  /** Refetches after a random time in [0, jitterMs), the newest URL winning. */
  const fetchLater = (ctx: ScoreboardFetchContext, jitterMs: number | undefined): void => {
    if (!jitterMs) {
      doFetch(ctx);
      return;
    }
    jittered = ctx;
    if (jitterTimer !== undefined) return;
    jitterTimer = setTimeout(() => {
      const c = jittered;
      jitterTimer = undefined;
      jittered = undefined;
      if (c && !disposed) doFetch(c);
    }, Math.floor(random() * jitterMs));
  };
  let fetchSeq = 0;
  let disposed = false;
  const doFetch = throttle((ctx: ScoreboardFetchContext) => {
    const f = options.fetchScoreboard;
    if (!f) return;
    const seq = ++fetchSeq;
    f(ctx).then(
      (board) => {
        if (!disposed && seq === fetchSeq) scoreboard.value = board;
      },
      (err: unknown) => {
        if (!disposed) error.value = { source: 'server', message: `fetchScoreboard failed: ${String(err)}`, cause: err };
      },
    );
  }, options.fetchThrottle ?? 1000);

  const offs = [
    client.on('state', (s) => (status.value = s.newState)),
    client.on('error', (e) => (error.value = e)),
    client.on('connected', () => (error.value = null)),
  ];

  let sub: Subscription | undefined;
  let subOffs: (() => void)[] = [];
  const unbind = (): void => {
    for (const off of subOffs) off();
    subOffs = [];
    if (sub) client.removeSubscription(sub);
    sub = undefined;
  };
  const bind = (name: string | undefined): void => {
    unbind();
    scoreboard.value = null;
    contest.value = null;
    board.value = null;
    lastUrl = undefined;
    keyed = false;
    fetchSeq++;
    doFetch.cancel();
    cancelJitter();
    onReset();
    if (!name) return;
    sub = client.subscribe(name, { boards: options.boards ?? 'patch', containers: reactiveBoards });
    const s = sub;
    const showBoard = (b: KeyedBoard | undefined): void => {
      if (!b) return;
      if (!keyed) {
        keyed = true;
        fetchSeq++; // The pushed board is newer than any fetch in flight.
        doFetch.cancel();
        cancelJitter();
      }
      // The same object for the board's life: patches change it in place.
      if (scoreboard.value !== (b.data as unknown)) scoreboard.value = b.data as unknown as S;
      board.value = { view: b.view, version: b.version, rowKey: b.rowKey };
    };
    subOffs = [
      sub.on('event', (ev) => {
        if (ev.type === EventType.ScoreboardUpdate && !keyed) {
          const r = readScoreboard(ev.data);
          if (r.url !== undefined) {
            lastUrl = r.url;
            if (options.fetchScoreboard) fetchLater({ url: r.url, contestAlias: r.alias ?? alias(), reason: 'update' }, ev.jitterMs);
            else scoreboard.value = ev.data as S;
          } else if (!s.board) {
            fetchSeq++; // A pushed scoreboard is newer than any fetch in flight.
            scoreboard.value = r.board as S;
          }
        } else if (ev.type === EventType.ContestUpdate) {
          contest.value = ev.data;
        }
        onEvent(ev);
      }),
      sub.on('board', (b) => showBoard(b.board)),
      sub.on('resync', () => {
        // A keyed board comes again from the server (fresh boards on resume).
        if (options.fetchScoreboard && !keyed) doFetch({ url: lastUrl, contestAlias: alias(), reason: 'resync' });
      }),
      sub.on('error', (e) => (error.value = e)),
    ];
    showBoard(sub.board); // A subscription shared with another user of the client may have one already.
  };

  const stopWatch = watch(channel, bind, { immediate: true });

  const open = (): void => client.connect();
  const close = (): void => client.disconnect();
  if (options.immediate ?? true) open();

  if (getCurrentScope()) {
    onScopeDispose(() => {
      disposed = true;
      stopWatch();
      doFetch.cancel();
      cancelJitter();
      unbind();
      if (owned) client.disconnect();
      for (const off of offs) off();
    });
  }
  return { status, scoreboard, board, contest, error, client, open, close };
}

/**
 * Follows a contest: subscribes to `/contest/<alias>` and keeps the latest
 * scoreboard, the clarifications and the user's runs. The alias may be a ref
 * or a getter; when it changes the composable switches channel.
 *
 * ```ts
 * const { status, scoreboard, clarifications, runs } = useEventStream('annual-2024', {
 *   url: 'wss://example.org/events/', getToken: () => api.eventsToken(),
 * });
 * ```
 */
export function useEventStream<S = unknown>(
  contestAlias: MaybeRefOrGetter<string>,
  options: UseEventStreamOptions<S>,
): EventStreamState<S> {
  const clarifications = shallowRef<readonly ClarificationData[]>([]);
  const runs = shallowRef<Readonly<Record<string, RunData>>>({});
  const alias = (): string | undefined => toValue(contestAlias) || undefined;
  const state = useChannel<S>(
    () => {
      const a = alias();
      return a ? `/contest/${a}` : undefined;
    },
    options,
    alias,
    (ev) => {
      if (ev.type === EventType.Clarification && isRecord(ev.data)) {
        const c = ev.data as ClarificationData;
        const list = clarifications.value;
        const at = c.clarification_id === undefined ? -1 : list.findIndex((x) => x.clarification_id === c.clarification_id);
        clarifications.value = at < 0 ? [...list, c] : list.map((x, i) => (i === at ? c : x));
      } else if (ev.type === EventType.RunUpdate && isRecord(ev.data) && typeof ev.data.guid === 'string') {
        const r = ev.data as RunData;
        if (options.username && typeof r.username === 'string' && r.username !== options.username) return;
        runs.value = { ...runs.value, [r.guid]: r };
      }
    },
    () => {
      clarifications.value = [];
      runs.value = {};
    },
  );
  return { ...state, clarifications, runs };
}

/**
 * Follows a public scoreboard link `/scoreboard/<token>` without logging in:
 * it sees only public scoreboard and contest updates of that contest.
 *
 * ```ts
 * const { status, scoreboard } = useScoreboard(route.params.token, { url: '/events/' });
 * ```
 */
export function useScoreboard<S = unknown>(token: MaybeRefOrGetter<string>, options: StreamOptions<S>): StreamState<S> {
  return useChannel<S>(
    () => {
      const t = toValue(token);
      return t ? `/scoreboard/${t}` : undefined;
    },
    options,
    () => undefined,
    () => {},
    () => {},
  );
}
