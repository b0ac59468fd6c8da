/**
 * A subscription to one channel, with its own events and its own resume
 * position.
 *
 * @module
 */

import { type BoardChange, type BoardContainers, BoardSet, type KeyedBoard } from './board.js';
import { EventType, type SubscriptionState } from './codes.js';
import { Emitter } from './emitter.js';
import { compareIds, isDecimalId } from './ids.js';
import type {
  ErrorContext,
  ResyncContext,
  StreamEvent,
  SubscribedContext,
  SubscriptionStateContext,
  UnsubscribedContext,
} from './types.js';

const reserved = new Set(['state', 'subscribing', 'subscribed', 'unsubscribed', 'error', 'resync', 'event', 'board']);

/** How the server sends keyed scoreboards (protocol section 8): whole boards, or the board once and then patches. */
export type BoardsMode = 'patch' | 'full';

/** Options of `client.subscribe(channel, options)`. */
export interface SubscribeOptions {
  /** Resume after this event id (a decimal id string) unless the subscription has a position already. */
  since?: string;
  /** Send `boards` on subscribe; overrides the client's `boards` option for this channel. */
  boards?: BoardsMode;
  /**
   * Containers for the keyed boards' rows and members (see
   * {@link BoardContainers}); used for boards made after this call. The Vue
   * composables pass shallowReactive ones.
   */
  containers?: BoardContainers;
}

/** Argument of a subscription's `board` event. */
export interface BoardEventContext extends BoardChange {
  channel: string;
  /** The board to show now (admin over user:<me> over public), after the change. */
  board: KeyedBoard | undefined;
  /** The id of the event that changed it. */
  id?: string;
}

/** Events of a {@link Subscription}; any other name is an event type such as `run_update`. */
export interface SubscriptionEvents {
  state: SubscriptionStateContext;
  subscribing: { channel: string };
  subscribed: SubscribedContext;
  unsubscribed: UnsubscribedContext;
  error: ErrorContext;
  resync: ResyncContext;
  /** Every event of the channel, whatever its type. */
  event: StreamEvent;
  /** A keyed board of the channel was taken or patched. */
  board: BoardEventContext;
}

/** What a subscription asks of its client. @internal */
export interface SubscriptionHost {
  subscriptionWanted(sub: Subscription): void;
  subscriptionDropped(sub: Subscription): void;
  /** A keyed board of sub has a gap: ask the server for fresh boards. */
  boardsWanted(sub: Subscription): void;
  /** The signed-in user (from auth_success), if any. */
  readonly user: string | undefined;
}

/**
 * A channel subscription, made by `client.subscribe(channel)`. It survives
 * reconnects: the client resubscribes it with `since` = {@link lastId}, drops
 * events it has already delivered, and emits `resync` when events may have
 * been missed.
 */
export class Subscription extends Emitter<SubscriptionEvents, StreamEvent> {
  private st: SubscriptionState = 'unsubscribed';
  // High-water marks: while a scoreboard_update (or a scoreboard_patch)
  // waits in the server's queue a newer one of the same view replaces it (or
  // is folded into it) in place, keeping the newer id, so a scoreboard may
  // arrive ahead of events with smaller ids, those of other views included.
  // Each type and view is in order on its own; everything else shares one.
  private readonly boardMarks = new Map<string, string>();
  private lastOther: string | undefined;
  /** The keyed boards of the channel, one per view. */
  private keyed: BoardSet;
  private containers: BoardContainers = {};
  /** How this subscription asks for keyed boards, when it says. @internal */
  boardsMode: BoardsMode | undefined;
  /** A gap was found: the next subscribe asks for fresh boards (`snapshot:true`). @internal */
  snapshotWanted = false;
  private snapshotAsked = false;
  private wanted = false;
  private confirmedBefore = false;
  private sentSince: string | undefined;
  private sentResume = false;

  /** @internal */
  constructor(
    /** The channel name, e.g. `/contest/annual-2024`. */
    readonly channel: string,
    private readonly host: SubscriptionHost,
    private readonly onListen: (type: string) => void,
  ) {
    super();
    this.keyed = new BoardSet();
  }

  /** Applies subscribe options. @internal */
  _configure(o: SubscribeOptions | undefined): void {
    if (!o) return;
    if (o.boards !== undefined) this.boardsMode = o.boards;
    if (o.containers !== undefined && o.containers !== this.containers) {
      this.containers = o.containers;
      this.keyed = new BoardSet(o.containers);
    }
  }

  /**
   * The keyed board to show: the channel's most specific view (`admin`,
   * else the user's own `user:<name>`, else `public`), kept current from
   * full boards and patches. Undefined until a keyed board arrived.
   */
  get board(): KeyedBoard | undefined {
    return this.keyed.current(this.host.user);
  }

  /** The keyed board of one view (`public`, `admin`, `user:<name>`), if there is one. */
  boardOf(view: string): KeyedBoard | undefined {
    return this.keyed.get(view);
  }

  /** The subscription state. */
  get state(): SubscriptionState {
    return this.st;
  }

  /**
   * The resume position: the id of the last event delivered on this channel
   * (of the last non-scoreboard event when there was one, since scoreboards
   * may overtake other events), if any had an id.
   */
  get lastId(): string | undefined {
    if (this.lastOther !== undefined) return this.lastOther;
    // The newest id of each view (its boards and patches are in order), and
    // of those the oldest, so no view misses anything.
    const views = new Map<string, string>();
    for (const [k, id] of this.boardMarks) {
      const view = k.slice(k.indexOf('\0') + 1);
      const have = views.get(view);
      if (have === undefined || compareIds(id, have) > 0) views.set(view, id);
    }
    let min: string | undefined;
    for (const id of views.values()) if (min === undefined || compareIds(id, min) < 0) min = id;
    return min;
  }

  /**
   * Where to resume this channel: {@link lastId}, or while a board gap is
   * open the oldest board version if that is earlier. The server sends a
   * fresh board only when its version is above `since`, and after a gap
   * the last id seen (the patch that did not fit) may equal the version;
   * over SSE, which cannot ask for `snapshot`, the patches after the
   * version come again. Events in between are replayed and dropped as
   * duplicates. @internal
   */
  get _resumeId(): string | undefined {
    let id = this.lastId;
    if (!this.snapshotWanted) return id;
    for (const v of this.keyed.views()) {
      const ver = this.keyed.get(v)?.version;
      if (isDecimalId(ver) && (id === undefined || compareIds(ver, id) < 0)) id = ver;
    }
    return id;
  }

  /** Whether the application wants this subscription active. */
  get active(): boolean {
    return this.wanted;
  }

  /** Starts (or restarts, after an unsubscribe or a refusal) the subscription. */
  subscribe(): void {
    if (this.wanted) return;
    this.wanted = true;
    this.setState('subscribing');
    this.host.subscriptionWanted(this);
  }

  /** Stops the subscription. Its last id is kept, so a later subscribe resumes. */
  unsubscribe(): void {
    if (!this.wanted) return;
    this.wanted = false;
    this.setState('unsubscribed');
    this.emit('unsubscribed', { channel: this.channel, reason: 'requested' });
    this.host.subscriptionDropped(this);
  }

  protected override added(name: string): void {
    this.onListen(name);
  }

  private setState(s: SubscriptionState): void {
    if (s === this.st) return;
    const old = this.st;
    this.st = s;
    this.emit('state', { channel: this.channel, oldState: old, newState: s });
    if (s === 'subscribing') this.emit('subscribing', { channel: this.channel });
  }

  /** Sets the resume position to id (a decimal id) unless there is one already. @internal */
  _startAfter(id: string): void {
    if (this.lastId === undefined) this.lastOther = id;
  }

  /** The client sent a subscribe; resume says whether it asked to resume. @internal */
  _sent(since: string | undefined, resume: boolean): void {
    this.snapshotAsked = false;
    this.sentSince = since;
    this.sentResume = resume;
    this.setState('subscribing');
  }

  /** The transport went away; the client will resubscribe. @internal */
  _lost(): void {
    if (this.wanted) this.setState('subscribing');
  }

  /** The client sent a subscribe asking for fresh boards. @internal */
  _snapshotSent(): void {
    this.snapshotAsked = true;
  }

  /** The server confirmed the subscribe. @internal */
  _subscribed(recovered: boolean | undefined): { ctx: SubscribedContext; resync?: ResyncContext } | undefined {
    if (!this.wanted) return undefined;
    if (this.snapshotAsked && this.st === 'subscribed') {
      // The answer to a request for fresh boards on a live subscription.
      this.snapshotAsked = false;
      if (recovered !== false) return undefined;
      const resync: ResyncContext = { channel: this.channel, reason: 'not_recovered', since: this.sentSince };
      this.emit('resync', resync);
      return { ctx: { channel: this.channel, resumed: true, recovered }, resync };
    }
    const again = this.confirmedBefore;
    const firstConfirm = this.st !== 'subscribed';
    this.confirmedBefore = true;
    this.setState('subscribed');
    const ctx: SubscribedContext = { channel: this.channel, resumed: this.sentResume, recovered };
    if (!firstConfirm) return undefined; // An idempotent repeat: nothing new.
    this.emit('subscribed', ctx);
    let resync: ResyncContext | undefined;
    if (this.sentResume && recovered === false) {
      resync = { channel: this.channel, reason: 'not_recovered', since: this.sentSince };
    } else if (this.sentResume && recovered === undefined) {
      resync = { channel: this.channel, reason: 'no_resume_support', since: this.sentSince };
    } else if (!this.sentResume && again) {
      resync = { channel: this.channel, reason: 'no_position' };
    }
    if (resync) this.emit('resync', resync);
    return { ctx, resync };
  }

  /** The server ended or refused the subscription. @internal */
  _ended(reason: string, err?: ErrorContext): void {
    if (err) this.emit('error', err);
    if (!this.wanted) return;
    this.wanted = false;
    this.setState('unsubscribed');
    this.emit('unsubscribed', { channel: this.channel, reason });
  }

  /** Reports an error that does not end the subscription. @internal */
  _error(err: ErrorContext): void {
    this.emit('error', err);
  }

  /**
   * Delivers an event unless it was delivered before. Returns whether it was
   * delivered. @internal
   */
  _deliver(ev: StreamEvent): boolean {
    if (!this.wanted) return false;
    const isBoard = ev.type === EventType.ScoreboardUpdate || ev.type === EventType.ScoreboardPatch;
    if (isDecimalId(ev.id)) {
      const k = `${ev.type}\0${ev.view ?? ''}`;
      const mark = isBoard ? this.boardMarks.get(k) : this.lastOther;
      if (mark !== undefined && compareIds(ev.id, mark) <= 0) return false;
      if (isBoard) this.boardMarks.set(k, ev.id);
      else this.lastOther = ev.id;
    }
    const change = isBoard ? this.keyed.handle(ev.type, ev.data, ev.id, ev.view, ev.base) : undefined;
    if (!reserved.has(ev.type)) this.emit(ev.type, ev);
    this.emit('event', ev);
    if (change) this.boardChanged(change, ev.id);
    return true;
  }

  private boardChanged(change: BoardChange, id: string | undefined): void {
    // A patch that does not fit the board means the board is not the
    // server's any more: as for a gap, ask for a fresh one.
    if (change.result === 'gap' || change.result === 'invalid') {
      if (!this.snapshotWanted) {
        this.snapshotWanted = true;
        this.host.boardsWanted(this);
      }
      return;
    }
    if (change.result === 'board') this.snapshotWanted = false;
    if (change.result === 'board' || change.result === 'applied') {
      this.emit('board', { ...change, channel: this.channel, board: this.board, id });
    }
  }
}
