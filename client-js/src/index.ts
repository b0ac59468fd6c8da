/**
 * The Arenacast browser client. The Vue composables live in the `./vue`
 * entry point so this one has no dependency at all.
 *
 * @module
 */

export { ArenacastClient } from './client.js';
export type { ClientEvents } from './client.js';
export { defaults } from './options.js';
export type { ClientOptions } from './options.js';
export { TicketError } from './ticket.js';
export { TokenUnavailableError } from './token.js';
export { Subscription } from './subscription.js';
export type { BoardEventContext, BoardsMode, SubscribeOptions, SubscriptionEvents } from './subscription.js';
export { Backoff, backoffDelay } from './backoff.js';
export {
  ClientMessageType,
  CloseCode,
  CloseMessageTooBig,
  ErrorCode,
  EventType,
  LocalCode,
  ReplyType,
  UnsubscribeReason,
  closeReasons,
  isTerminalClose,
} from './codes.js';
export type { ConnectionState, SubscriptionState } from './codes.js';
export { compareIds, isDecimalId } from './ids.js';
export { parseFrame } from './frames.js';
export type { Clock } from './clock.js';
export type { Unsubscribe } from './emitter.js';
export type {
  EventSourceConstructor,
  EventSourceLike,
  FetchLike,
  WebSocketConstructor,
  WebSocketLike,
} from './transport.js';
export type * from './types.js';
export { BoardSet, KeyedBoard, isKeyedBoard, jsonEqual } from './board.js';
export type { BoardChange, BoardContainers, BoardData, BoardRow, DeliveredPatch, PatchResult } from './board.js';
export { CcsFeedError, followCcsFeed } from './ccs-feed.js';
export type { CcsFeed, CcsFeedOptions, CcsNotification } from './ccs-feed.js';
