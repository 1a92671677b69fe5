/** The order processor's transactions: claims with a lease, "call started", outcomes, lease recovery. */
import type { OrderRecord, OutboxMessage, ProcessingStore, RecordedOutcome } from '../store.js';
import { toOrder, type OrderRow } from '../rows.js';
import { all, changed, one, run, type Op, type SqlDb } from '../sql.js';
import { insertAudit, insertOutbox } from './common.js';
import { lockOrder, refundOrder } from './orders.js';
import { emitOrderEvent } from './webhooks.js';

/** Apply a final outcome (or a requeue) to a locked order row, with its ledger effect and outbox message. */
function* applyOutcome(row: OrderRow, outcome: RecordedOutcome, now: number): Op<void> {
  yield* changed(row.id);
  if (outcome.status !== 'PENDING' && outcome.trace) {
    // The trace grows by one line per answer (the call's, then a late confirmation's), up to 4,000 characters.
    yield* run(
      `UPDATE orders SET gateway_channel = COALESCE(gateway_channel, $1), gateway_trace = substr(COALESCE(gateway_trace || $2, '') || $3, 1, 4000) WHERE id = $4`,
      [outcome.trace.channel, '\n', outcome.trace.detail.slice(0, 2000), row.id],
    );
  }
  switch (outcome.status) {
    case 'FULFILLED':
      yield* run(
        `UPDATE orders SET status = 'FULFILLED', refund_message = NULL, lease_owner = NULL, lease_expires_at = NULL, final_at = $1, updated_at = $1 WHERE id = $2`,
        [now, row.id],
      );
      yield* emitOrderEvent(row.id, now);
      return;
    case 'REFUNDED':
      yield* refundOrder(row, outcome.refund, now);
      yield* run(
        `UPDATE orders SET status = 'REFUNDED', refund_message = $1, suggested_offers = $2, lease_owner = NULL, lease_expires_at = NULL,
           final_at = $3, updated_at = $3 WHERE id = $4`,
        [outcome.refundMessage, outcome.suggestedOffers === null ? null : JSON.stringify(outcome.suggestedOffers), now, row.id],
      );
      yield* emitOrderEvent(row.id, now);
      return;
    case 'UNKNOWN_ERROR':
      yield* run(
        `UPDATE orders SET status = 'UNKNOWN_ERROR', refund_message = $1, lease_owner = NULL, lease_expires_at = NULL, final_at = $2, updated_at = $2 WHERE id = $3`,
        [outcome.refundMessage, now, row.id],
      );
      yield* insertOutbox(outcome.alert);
      yield* emitOrderEvent(row.id, now);
      return;
    case 'PENDING':
      yield* run(`UPDATE orders SET status = 'PENDING', lease_owner = NULL, lease_expires_at = NULL, not_before = $1, updated_at = $2 WHERE id = $3`, [
        outcome.notBefore, now, row.id,
      ]);
      return;
  }
}

export function makeProcessingStore(db: SqlDb): ProcessingStore {
  return {
    // The claim is one statement; its HANDLING events are written in the same transaction.
    claimOrders: (input) =>
      db.transaction(function* () {
        const rows = yield* all<OrderRow>(
          `UPDATE orders SET status = 'HANDLING', lease_owner = $1, lease_expires_at = $2, attempts = attempts + 1, updated_at = $3
           WHERE id IN (SELECT id FROM orders WHERE status = 'PENDING' AND env = 'PRODUCTION' AND not_before <= $3
                        ORDER BY not_before, created_at LIMIT $4 FOR UPDATE SKIP LOCKED)
           RETURNING *`,
          [input.owner, input.now + input.leaseMs, input.now, input.limit],
        );
        for (const r of rows) yield* changed(r.id);
        if (rows.length > 0 && (yield* one(`SELECT 1 AS x FROM webhook_endpoints WHERE env = 'PRODUCTION' AND deleted_at IS NULL AND disabled_at IS NULL LIMIT 1`))) {
          for (const r of rows) yield* emitOrderEvent(r.id, input.now);
        }
        return rows.map(toOrder).sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
      }),

    markCallStarted: (input) =>
      db.exec((function* () {
        yield* changed(input.orderId);
        const r = yield* one<{ id: string }>(
          `UPDATE orders SET call_started_at = $1, updated_at = $1, gateway_channel = $4
           WHERE id = $2 AND status = 'HANDLING' AND lease_owner = $3 AND lease_expires_at > $1 AND call_started_at IS NULL RETURNING id`,
          [input.now, input.orderId, input.owner, input.channel ?? null],
        );
        return r !== undefined;
      })()),

    recordOutcome: (input) =>
      db.transaction(function* () {
        const row = yield* lockOrder(input.orderId);
        if (!row) return 'ignored' as const;
        const decision = input.decide(toOrder(row));
        if (decision.action === 'ignore') return 'ignored' as const;
        yield* applyOutcome(row, input.outcome, input.now);
        if (decision.action === 'apply') return 'applied' as const;
        yield* insertAudit(decision.audit);
        return 'late' as const;
      }),

    recoverExpiredLeases: (input) =>
      db.transaction(function* () {
        const rows = yield* all<OrderRow>(`SELECT * FROM orders WHERE status = 'HANDLING' AND lease_expires_at < $1 FOR UPDATE SKIP LOCKED`, [input.now]);
        const requeued: string[] = [];
        const uncertain: OrderRecord[] = [];
        for (const row of rows) {
          if ((row.call_started_at ?? null) === null) {
            // The call never started: nothing went out, the order may be tried again.
            yield* applyOutcome(row, { status: 'PENDING', notBefore: 0 }, input.now);
            requeued.push(row.id);
          } else {
            // The call started and nobody knows how it ended: uncertain, never a refund, never a second call.
            const order = toOrder(row);
            const alert: OutboxMessage = input.makeAlert(order);
            yield* applyOutcome(row, { status: 'UNKNOWN_ERROR', refundMessage: input.refundMessage, alert }, input.now);
            uncertain.push({ ...order, status: 'UNKNOWN_ERROR', refundMessage: input.refundMessage });
          }
        }
        return { requeued, uncertain };
      }),
  };
}
