/** Row shapes and mappers shared by the kit's SQL stores (the same columns on SQLite and PostgreSQL). */
import type { KitEvent, KitOrder, KitStatus, Transition } from './store.js';

export interface OrderRow {
  id: string; ref: string; topup_id: string | null; plan_code: string; mssidn: string; amount: number | null; status: KitStatus;
  refund_message: string | null; suggested_offers: string | null; created_at: number; updated_at: number; api_created_at: number | null;
  known_final_at: number | null; next_check_at: number | null; checks: number; last_error: string | null;
}
export interface EventRow {
  order_id: string; transition: Transition; snapshot: string; state: KitEvent['state']; attempts: number; next_attempt_at: number;
  claimed_by: string | null; claimed_until: number | null; last_error: string | null; created_at: number; done_at: number | null;
}

export const FINAL = new Set<KitStatus>(['FULFILLED', 'REFUNDED', 'UNKNOWN_ERROR']);

export function toOrder(r: OrderRow): KitOrder {
  return {
    id: r.id,
    ref: r.ref,
    topupId: r.topup_id,
    planCode: r.plan_code,
    mssidn: r.mssidn,
    amount: r.amount,
    status: r.status,
    refundMessage: r.refund_message,
    suggestedOffers: r.suggested_offers === null ? null : (JSON.parse(r.suggested_offers) as KitOrder['suggestedOffers']),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    apiCreatedAt: r.api_created_at,
    knownFinalAt: r.known_final_at,
    nextCheckAt: r.next_check_at,
    checks: r.checks,
    lastError: r.last_error,
  };
}

export function toEvent(r: EventRow): KitEvent {
  return {
    orderId: r.order_id,
    transition: r.transition,
    order: JSON.parse(r.snapshot) as KitOrder,
    state: r.state,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    claimedBy: r.claimed_by,
    claimedUntil: r.claimed_until,
    lastError: r.last_error,
    createdAt: r.created_at,
    doneAt: r.done_at,
  };
}

