/**
 * A subscription to one channel, with its own events and its own resume
 * position.
 *
 * @module
 */

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

const reserved = new Set(['state', 'subscribing', 'subscribed', 'unsubscribed', 'error', 'resync', 'event']);

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
}

/** What a subscription asks of its client. @internal */
export interface SubscriptionHost {
  subscriptionWanted(sub: Subscription): void;
  subscriptionDropped(sub: Subscription): void;
}

/**
 * A channel subscription, made by `client.subscribe(channel)`. It survives
 * reconnects: the client resubscribes it with `since` = {@link lastId}, drops
 * events it has already delivered, and emits `resync` when events may have
 * been missed.
 */
export class Subscription extends Emitter<SubscriptionEvents, StreamEvent> {
  private st: SubscriptionState = 'unsubscribed';
  // Two high-water marks: while a scoreboard_update waits in the server's
  // queue a newer one replaces it in place, keeping the newer id, so a
  // scoreboard may arrive ahead of events with smaller ids. Each kind is in
  // order on its own.
  private lastBoard: string | undefined;
  private lastOther: string | undefined;
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
    return this.lastOther ?? this.lastBoard;
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
    this.sentSince = since;
    this.sentResume = resume;
    this.setState('subscribing');
  }

  /** The transport went away; the client will resubscribe. @internal */
  _lost(): void {
    if (this.wanted) this.setState('subscribing');
  }

  /** The server confirmed the subscribe. @internal */
  _subscribed(recovered: boolean | undefined): { ctx: SubscribedContext; resync?: ResyncContext } | undefined {
    if (!this.wanted) return undefined;
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
    if (isDecimalId(ev.id)) {
      const board = ev.type === EventType.ScoreboardUpdate;
      const mark = board ? this.lastBoard : this.lastOther;
      if (mark !== undefined && compareIds(ev.id, mark) <= 0) return false;
      if (board) this.lastBoard = ev.id;
      else this.lastOther = ev.id;
    }
    if (!reserved.has(ev.type)) this.emit(ev.type, ev);
    this.emit('event', ev);
    return true;
  }
}
