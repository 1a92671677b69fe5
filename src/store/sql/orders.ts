/** Orders: the send transaction, reads, support's resolution and re-send. One text for both databases. */
import { ACCOUNTS } from '../store.js';
import type { InsertOrderResult, OrderRecord, OrdersStore, RefundEntry, ResolveResult, WebhookEventType } from '../store.js';
import { ORDER_COLUMNS, ORDER_INSERT_COLUMNS, orderArgs, toOrder, visibleStatusSql, type OrderRow } from '../rows.js';
import { all, changed, one, run, type Op, type SqlDb } from '../sql.js';
import { emitOrderEvent, scheduleOrderEvents } from './webhooks.js';
import { balanceOf, insertAudit, insertLedger, lockBalance, page } from './common.js';

export const ORDER_BY_ID = `SELECT ${ORDER_COLUMNS} FROM orders WHERE id = $1`;
const ORDER_BY_REF = `SELECT ${ORDER_COLUMNS} FROM orders WHERE merchant_id = $1 AND env = $2 AND ref = $3`;
const INSERT_ORDER = `INSERT INTO orders (${ORDER_INSERT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`;

/** The order row with its processor columns, locked for the rest of the transaction. */
export function* lockOrder(id: string): Op<OrderRow | undefined> {
  return yield* one<OrderRow>('SELECT * FROM orders WHERE id = $1 FOR UPDATE', [id]);
}

/**
 * Inside a transaction: the ref checked unique; in production (a charge), the balance checked and a
 * FLEXY entry taken, under the merchant's row lock; then the order. A refusal writes nothing.
 */
export function* insertOrderOp(order: OrderRecord, charge: { entryId: string; note: string } | null, scheduled?: readonly { at: number; type: WebhookEventType }[]): Op<InsertOrderResult> {
  const existing = function* () {
    return (yield* one<{ id: string }>('SELECT id FROM orders WHERE merchant_id = $1 AND env = $2 AND ref = $3', [order.merchantId, order.env, order.ref]))?.id;
  };
  if (charge === null || order.charge <= 0) {
    // No money moves (sandbox): no merchant lock; the unique (merchant, env, ref) settles a race.
    const inserted = yield* one<{ id: string }>(`${INSERT_ORDER} ON CONFLICT (merchant_id, env, ref) DO NOTHING RETURNING id`, orderArgs(order));
    if (!inserted) return { ok: false, reason: 'DUPLICATED_REF', existingId: (yield* existing()) ?? '' };
    if (scheduled && scheduled.length > 0) yield* scheduleOrderEvents(order, scheduled);
    return { ok: true, balance: (yield* balanceOf(order.merchantId)) ?? 0 };
  }
  const available = (yield* lockBalance(order.merchantId)) ?? 0;
  const dup = yield* existing();
  if (dup) return { ok: false, reason: 'DUPLICATED_REF', existingId: dup };
  if (available < order.charge) return { ok: false, reason: 'INSUFFICIENT_BALANCE', available };
  yield* run(INSERT_ORDER, orderArgs(order));
  yield* insertLedger({
    id: charge.entryId, merchantId: order.merchantId, type: 'FLEXY', operation: 'DECREMENT', amount: order.charge, oldBalance: available,
    newBalance: available - order.charge, objid: order.id, note: charge.note, time: order.createdAt, counterAccount: ACCOUNTS.operatorSettlement,
  });
  return { ok: true, balance: available - order.charge };
}

/** Return a production order's charge to its merchant as one REFUND-FLEXY entry (inside a transaction). */
export function* refundOrder(row: OrderRow, refund: RefundEntry, now: number): Op<void> {
  if (row.env !== 'PRODUCTION' || row.charge <= 0) return;
  const old = (yield* lockBalance(row.merchant_id)) ?? 0;
  yield* insertLedger({
    id: refund.id, merchantId: row.merchant_id, type: 'REFUND-FLEXY', operation: 'INCREMENT', amount: row.charge, oldBalance: old,
    newBalance: old + row.charge, objid: row.id, note: refund.note, time: now, counterAccount: ACCOUNTS.operatorSettlement,
  });
}

export function makeOrdersStore(db: SqlDb, options: { syncReads?: OrdersStore['syncReads'] } = {}): OrdersStore {
  const byId = function* (id: string) {
    const r = yield* one<OrderRow>(ORDER_BY_ID, [id]);
    return r && toOrder(r);
  };
  const { syncReads } = options;
  return {
    ...(syncReads ? { syncReads } : {}),

    insertOrder: (order, charge, scheduled) => db.transactionGrouped(() => insertOrderOp(order, charge, scheduled)),

    async findOrderById(merchantId, env, id) {
      if (syncReads) return syncReads.findOrderById(merchantId, env, id);
      const o = await db.exec(byId(id));
      return o && o.merchantId === merchantId && o.env === env ? o : undefined;
    },

    findOrderByRef: (merchantId, env, ref) =>
      db.exec((function* () {
        const r = yield* one<OrderRow>(ORDER_BY_REF, [merchantId, env, ref]);
        return r && toOrder(r);
      })()),

    listOrders: (merchantId, env, req) =>
      db.exec(page('orders', 'merchant_id = $1 AND env = $2', [merchantId, env], 'created_at', 'created_at DESC, id DESC', req, toOrder)),

    listOrdersFiltered(merchantId, env, filter, req) {
      const args: unknown[] = [merchantId, env];
      const where = ['merchant_id = $1 AND env = $2'];
      const arg = (v: unknown) => `$${args.push(v)}`;
      if (filter.status) {
        where.push(`${visibleStatusSql(`${arg(filter.now)}::bigint`, filter.timeline)} = ${arg(filter.status)}`);
      }
      if (filter.mssidn) where.push(`mssidn = ${arg(filter.mssidn)}`);
      if (filter.ref) where.push(`ref = ${arg(filter.ref)}`);
      return db.exec(page('orders', where.join(' AND '), args, 'created_at', 'created_at DESC, id DESC', req, toOrder));
    },

    // An id (primary key), a ref (one probe of the unique (merchant, env, ref) index per merchant and
    // environment) or an MSSIDN (orders_by_mssidn), newest first.
    searchOrders: (query, limit) =>
      db.exec((function* () {
        const rows = yield* all<OrderRow>(
          `SELECT ${ORDER_COLUMNS} FROM orders WHERE id = $1
           UNION SELECT ${ORDER_COLUMNS.split(', ').map((c) => `o.${c}`).join(', ')} FROM merchants m
             CROSS JOIN (SELECT 'PRODUCTION' AS env UNION ALL SELECT 'SANDBOX' AS env) e
             JOIN orders o ON o.merchant_id = m.id AND o.env = e.env AND o.ref = $1
           UNION SELECT * FROM (SELECT ${ORDER_COLUMNS} FROM orders WHERE mssidn = $1 ORDER BY created_at DESC LIMIT $2) AS by_number
           ORDER BY created_at DESC, id DESC LIMIT $2`,
          [query, limit],
        );
        return rows.map(toOrder);
      })()),

    // With the processor's columns (call started, lease, attempts): support and the processor read these.
    findOrderAnywhere: (id) =>
      db.exec((function* () {
        const r = yield* one<OrderRow>('SELECT * FROM orders WHERE id = $1', [id]);
        return r && toOrder(r);
      })()),

    findCallsByChannel: (input) =>
      db.exec((function* () {
        const rows = yield* all<OrderRow>(
          `SELECT * FROM orders WHERE gateway_channel = $1 AND mssidn = $2 AND topup_amount = $3 AND env = 'PRODUCTION'
             AND call_started_at >= $4 AND call_started_at <= $5 ORDER BY call_started_at, id`,
          [input.channel, input.mssidn, input.topupAmount, input.since, input.until],
        );
        return rows.map(toOrder);
      })()),

    listByChannel: (channel, from, to, limit) =>
      db.exec((function* () {
        const rows = yield* all<OrderRow>(
          `SELECT * FROM orders WHERE gateway_channel = $1 AND created_at >= $2 AND created_at <= $3 AND env = 'PRODUCTION' ORDER BY created_at, id LIMIT $4`,
          [channel, from, to, limit],
        );
        return rows.map(toOrder);
      })()),

    listUncertainByChannel: (channel, since, limit) =>
      db.exec((function* () {
        const rows = yield* all<OrderRow>(
          `SELECT * FROM orders WHERE gateway_channel = $1 AND call_started_at >= $2 AND status = 'UNKNOWN_ERROR' AND env = 'PRODUCTION'
             ORDER BY call_started_at, id LIMIT $3`,
          [channel, since, limit],
        );
        return rows.map(toOrder);
      })()),

    lastUnansweredCall: (channel, since) =>
      db.exec((function* () {
        const r = yield* one<{ at: number | string | null }>(
          `SELECT MAX(call_started_at) AS at FROM orders WHERE gateway_channel = $1 AND call_started_at >= $2 AND status IN ('HANDLING', 'UNKNOWN_ERROR')`,
          [channel, since],
        );
        return r?.at === null || r?.at === undefined ? null : Number(r.at);
      })()),

    listUncertainOrders: (req) => db.exec(page('orders', `status = 'UNKNOWN_ERROR'`, [], 'created_at', 'created_at ASC, id ASC', req, toOrder)),

    resolveOrder: (input) =>
      db.transaction(function* (): Op<ResolveResult> {
        const row = yield* lockOrder(input.orderId);
        if (!row) return { ok: false, reason: 'NOT_FOUND' };
        if (row.status !== input.expectStatus) return { ok: false, reason: 'CONFLICT', status: row.status };
        yield* changed(row.id);
        if (input.to === 'REFUNDED') yield* refundOrder(row, input.refund, input.now);
        yield* run('UPDATE orders SET status = $1, refund_message = $2, final_at = $3, updated_at = $3 WHERE id = $4', [input.to, input.refundMessage, input.now, row.id]);
        yield* emitOrderEvent(row.id, input.now, 'support');
        yield* insertAudit(input.audit);
        return { ok: true, order: toOrder((yield* lockOrder(row.id)) ?? row) };
      }),

    resendOrder: (input) =>
      db.transaction(function* () {
        const row = yield* lockOrder(input.originalId);
        if (!row) return { ok: false as const, reason: 'NOT_FOUND' as const };
        if (!input.mayResend(toOrder(row))) return { ok: false as const, reason: 'CONFLICT' as const, status: row.status, retryOrderId: row.retry_orderid };
        const result = yield* insertOrderOp(input.order, input.order.env === 'PRODUCTION' ? input.charge : null);
        if (!result.ok) return result;
        yield* changed(row.id);
        yield* run('UPDATE orders SET retry_orderid = $1, updated_at = $2 WHERE id = $3', [input.order.id, input.order.createdAt, row.id]);
        yield* insertAudit(input.audit);
        return result;
      }),
  };
}

