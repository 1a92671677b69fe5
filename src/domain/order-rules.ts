/**
 * The rules an order's money transactions follow, stated once for both stores: what a gateway's
 * answer does to an order as it is when the answer is recorded, which orders support may re-send,
 * and the notes of the ledger entries they write.
 */
import type { AuditRecord, OrderRecord, OutcomeDecision, RecordedOutcome } from '../store/store.js';
import { auditRecord } from '../support/audit.js';

/** The note of the REFUND-FLEXY entry that returns an order's charge. */
export const refundNote = (order: Pick<OrderRecord, 'planCode' | 'mssidn'>) => `Refund of ${order.planCode} ${order.mssidn}`;

/** The note of the FLEXY entry of a re-sent order. */
export const resendNote = (originalId: string) => `Re-send of ${originalId}`;

/** Support may re-send a REFUNDED order (or any sandbox order), once. */
export const mayResend = (order: OrderRecord) => order.retryOrderId === null && (order.status === 'REFUNDED' || order.env === 'SANDBOX');

/**
 * What a gateway's answer does, given the order as it is now:
 * - the worker still holds the lease (HANDLING, its name): apply it;
 * - the order became UNKNOWN_ERROR meanwhile (its lease expired during the call) and the answer is
 *   definitive (FULFILLED or REFUNDED): apply it as a late answer, audited;
 * - anything else (another worker has it, or it is final): change nothing.
 */
export function decideOutcome(order: OrderRecord, owner: string, outcome: RecordedOutcome, now: number): OutcomeDecision {
  if (order.status === 'HANDLING' && order.leaseOwner === owner) return { action: 'apply' };
  if (order.status === 'UNKNOWN_ERROR' && (outcome.status === 'FULFILLED' || outcome.status === 'REFUNDED')) {
    return { action: 'late', audit: lateAnswerAudit(order.id, owner, outcome.status, now) };
  }
  return { action: 'ignore' };
}

function lateAnswerAudit(orderId: string, owner: string, status: 'FULFILLED' | 'REFUNDED', now: number): AuditRecord {
  return {
    ...auditRecord(now, `processor:${owner}`, 'order.late-gateway-answer', orderId, 'the gateway answered definitively after the order had become UNKNOWN_ERROR', { status }),
    id: `${orderId}-late-${now}`,
  };
}
