/**
 * The merchant's own order table, in the merchant's own store. The kit keeps the API status of each
 * order and a durable record of every transition it must report (the hooks' outbox).
 */
import type { SuggestedOffer, TopupStatus } from '@shahn/sdk';

/** SENDING: recorded locally, the send's answer not known yet. REJECTED: the API refused the send (no top-up exists). */
export type KitStatus = 'SENDING' | 'REJECTED' | TopupStatus;
export type Transition = 'FULFILLED' | 'REFUNDED' | 'UNKNOWN_ERROR';

export interface KitOrder {
  /** The merchant's own order id. */
  id: string;
  /** The ref sent to the API (unique). */
  ref: string;
  topupId: string | null;
  planCode: string;
  mssidn: string;
  amount: number | null;
  status: KitStatus;
  refundMessage: string | null;
  suggestedOffers: SuggestedOffer[] | null;
  /** When the kit recorded the order (ms). */
  createdAt: number;
  updatedAt: number;
  /** The API's created_at (ms), once seen. */
  apiCreatedAt: number | null;
  /** When the kit learned the current final status. */
  knownFinalAt: number | null;
  /** When the order is next due for a check (open orders). */
  nextCheckAt: number | null;
  /** API calls spent on this order alone (check-id / check-ref). */
  checks: number;
  lastError: string | null;
}

export interface KitEvent {
  orderId: string;
  transition: Transition;
  /** The order as it was at the transition. */
  order: KitOrder;
  state: 'pending' | 'calling' | 'done' | 'interrupted';
  attempts: number;
  nextAttemptAt: number;
  claimedBy: string | null;
  claimedUntil: number | null;
  lastError: string | null;
  createdAt: number;
  doneAt: number | null;
}

export interface StatusUpdate {
  status: KitStatus;
  topupId?: string;
  refundMessage: string | null;
  suggestedOffers: SuggestedOffer[] | null;
  apiCreatedAt: number | null;
  nextCheckAt: number | null;
  lastError?: string | null;
}

export interface KitStore {
  migrate(): Promise<void>;
  close(): Promise<void>;
  /** false when the id or ref exists already. */
  insertOrder(order: KitOrder): Promise<boolean>;
  getOrder(id: string): Promise<KitOrder | undefined>;
  /** The order sent with this ref (refs are unique). */
  getOrderByRef(ref: string): Promise<KitOrder | undefined>;
  /**
   * Move an order from `expected` to a new status, atomically; when the new status is final and
   * differs, record its transition event in the same transaction (once per order and transition).
   * Returns false when the order was not in `expected` (another process got there first).
   */
  applyStatus(id: string, expected: KitStatus, update: StatusUpdate, now: number): Promise<boolean>;
  /** A check that changed nothing: count it and set the next one. */
  recordCheck(id: string, nextCheckAt: number | null, now: number, apiCreatedAt: number | null, calls: number): Promise<void>;
  /** Open orders (SENDING, PENDING, HANDLING) due for a check, oldest first. */
  dueOrders(now: number, limit: number): Promise<KitOrder[]>;
  /** Open orders (PENDING, HANDLING) with a topup id, created in [from, to] (the API's clock, or ours when unknown). */
  openBetween(from: number, to: number): Promise<KitOrder[]>;
  /** How many of our orders were created (by the API's clock, or ours when unknown) in [from, to]. */
  countCreatedBetween(from: number, to: number): Promise<number>;
  /** UNKNOWN_ERROR orders created before `cutoff`. */
  uncertainBefore(cutoff: number): Promise<KitOrder[]>;
  claimEvents(owner: string, now: number, leaseMs: number, limit: number): Promise<KitEvent[]>;
  completeEvent(orderId: string, transition: Transition, owner: string, now: number): Promise<void>;
  failEvent(orderId: string, transition: Transition, owner: string, nextAttemptAt: number, error: string): Promise<void>;
  /** Events whose caller died mid-hook (lease expired while calling): never called again automatically. */
  interruptExpiredEvents(now: number): Promise<KitEvent[]>;
  listEvents(filter?: { state?: KitEvent['state']; orderId?: string }): Promise<KitEvent[]>;
  /** Put an interrupted event back to pending (a person decided it is safe). */
  redeliver(orderId: string, transition: Transition, now: number): Promise<boolean>;
}
