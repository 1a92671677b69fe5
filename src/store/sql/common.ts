/** Statements several areas share: pages, ledger entries, audit records, outbox messages, balances. */
import { all, one, run, type Op } from '../sql.js';
import type { AuditRecord, LedgerEntryRecord, OutboxMessage, PageRequest, PageResult } from '../store.js';

/** A page of `table` rows: the total, then `req.limit` rows from `req.offset`, within [from, to] of `timeColumn`. */
export function* page<R, T>(table: string, where: string, whereArgs: readonly unknown[], timeColumn: string, order: string, req: PageRequest, map: (r: R) => T): Op<PageResult<T>> {
  const args = [...whereArgs];
  let sql = where;
  if (req.from !== undefined) {
    args.push(req.from);
    sql += ` AND ${timeColumn} >= $${args.length}`;
  }
  if (req.to !== undefined) {
    args.push(req.to);
    sql += ` AND ${timeColumn} <= $${args.length}`;
  }
  const total = (yield* one<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table} WHERE ${sql}`, args))?.n ?? 0;
  const rows = yield* all<R>(`SELECT * FROM ${table} WHERE ${sql} ORDER BY ${order} LIMIT $${args.length + 1} OFFSET $${args.length + 2}`, [...args, req.limit, req.offset]);
  return { items: rows.map(map), total: Number(total) };
}

export function* insertLedger(e: LedgerEntryRecord): Op<void> {
  yield* run(
    `INSERT INTO ledger_entries (id, merchant_id, type, operation, amount, old_balance, new_balance, objid, note, time, counter_account)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
    [e.id, e.merchantId, e.type, e.operation, e.amount, e.oldBalance, e.newBalance, e.objid, e.note, e.time, e.counterAccount],
  );
}

export function* insertAudit(a: AuditRecord): Op<void> {
  yield* run('INSERT INTO audit_log (id, at, actor, action, target, reason, details) VALUES ($1, $2, $3, $4, $5, $6, $7)', [
    a.id, a.at, a.actor, a.action, a.target, a.reason, JSON.stringify(a.details),
  ]);
}

export function* insertOutbox(m: OutboxMessage): Op<void> {
  yield* run(
    `INSERT INTO outbox (id, kind, topic, subject, payload, created_at, attempts, next_attempt_at, delivered_at, last_error)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [m.id, m.kind, m.topic, m.subject, JSON.stringify(m.payload), m.createdAt, m.attempts, m.nextAttemptAt, m.deliveredAt, m.lastError],
  );
}

/** A merchant's balance, its row locked for the rest of the transaction (PostgreSQL: money for one merchant moves one transaction at a time). */
export function* lockBalance(merchantId: string): Op<number | undefined> {
  return (yield* one<{ balance: number }>('SELECT balance FROM merchants WHERE id = $1 FOR UPDATE', [merchantId]))?.balance;
}

export function* balanceOf(merchantId: string): Op<number | undefined> {
  return (yield* one<{ balance: number }>('SELECT balance FROM merchants WHERE id = $1', [merchantId]))?.balance;
}
