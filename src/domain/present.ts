/** Records → wire objects. Optional fields are omitted, never null. */
import type { TopupOut, TransactionOut } from '@shahn/contract';
import { centimesToDzd } from '../lib/money.js';
import type { LedgerEntryRecord, OrderRecord } from '../store/store.js';
import { sandboxView } from './sandbox.js';
import type { SandboxTimeline } from '../lib/sandbox-timeline.js';

export function presentTopup(order: OrderRecord, now: number, timeline: SandboxTimeline): TopupOut {
  let status = order.status;
  let refundMessage = order.refundMessage;
  if (order.env === 'SANDBOX') {
    const view = sandboxView(order, now, timeline);
    status = view.status;
    refundMessage = view.refundMessage;
  }
  const out: TopupOut = {
    _id: order.id,
    ref: order.ref,
    status,
    plan_code: order.planCode,
    MSSIDN: order.mssidn,
    topup_amount: centimesToDzd(order.topupAmount),
    balance_amount: status === 'REFUNDED' ? 0 : centimesToDzd(order.charge),
    created_at: new Date(order.createdAt).toISOString(),
  };
  if (refundMessage !== null && (status === 'REFUNDED' || status === 'UNKNOWN_ERROR')) out.refund_message = refundMessage;
  if (order.suggestedOffers !== null && status === 'REFUNDED') {
    out.suggested_offers = order.suggestedOffers.map((o) => ({
      typename: o.typename,
      plan_code: o.plan_code,
      amount: centimesToDzd(o.amount),
    }));
  }
  if (order.followOrderId !== null) out.follow_orderid = order.followOrderId;
  if (order.retryOrderId !== null) out.retry_orderid = order.retryOrderId;
  return out;
}

export function presentTransaction(e: LedgerEntryRecord): TransactionOut {
  return {
    _id: e.id,
    type: e.type,
    operation: e.operation,
    amount: centimesToDzd(e.amount),
    oldBalance: centimesToDzd(e.oldBalance),
    newBalance: centimesToDzd(e.newBalance),
    objid: e.objid,
    note: e.note,
    time: new Date(e.time).toISOString(),
  };
}
