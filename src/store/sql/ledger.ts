/** The ledger: entries, credits, and the money invariants checked over the whole store. */
import { ACCOUNTS } from '../store.js';
import type { LedgerEntryRecord, LedgerStore, MoneyViolation } from '../store.js';
import { toLedger } from '../rows.js';
import { all, one, type SqlDb } from '../sql.js';
import { insertAudit, insertLedger, lockBalance, page } from './common.js';

export function makeLedgerStore(db: SqlDb): LedgerStore {
  return {
    // By the ledger's own order (seq / rowid), so each entry's oldBalance is the next older entry's newBalance.
    listLedger: (merchantId, req) => db.exec(page('ledger_entries', 'merchant_id = $1', [merchantId], 'time', `${db.dialect.ledgerSeq} DESC`, req, toLedger)),

    creditWithAudit: (input) =>
      db.transaction(function* () {
        const old = yield* lockBalance(input.merchantId);
        if (old === undefined) throw new Error(`merchant ${input.merchantId} does not exist`);
        if (old + input.amount > input.maxBalance) return { ok: false as const, reason: 'BALANCE_LIMIT' as const, balance: old };
        const entry: LedgerEntryRecord = {
          id: input.id, merchantId: input.merchantId, type: 'DEPOSIT', operation: 'INCREMENT', amount: input.amount, oldBalance: old,
          newBalance: old + input.amount, objid: input.id, note: input.note, time: input.time, counterAccount: ACCOUNTS.deposits,
        };
        yield* insertLedger(entry);
        yield* insertAudit(input.audit);
        return { ok: true as const, entry };
      }),

    checkMoney: () =>
      db.exec((function* () {
        const violations: MoneyViolation[] = [];
        const sum = `COALESCE(SUM(CASE e.operation WHEN 'INCREMENT' THEN e.amount ELSE -e.amount END), 0)::bigint`;
        for (const r of yield* all<{ id: string; balance: number; sum: number }>(
          `SELECT m.id, m.balance, ${sum} AS sum FROM merchants m LEFT JOIN ledger_entries e ON e.merchant_id = m.id
           GROUP BY m.id, m.balance HAVING m.balance <> ${sum} OR m.balance < 0`,
        )) {
          violations.push({ merchantId: r.id, problem: `balance ${r.balance} != sum of entries ${r.sum}` });
        }
        // Each production order's charges and refunds; only the orders that break the rule come back.
        // The only indexes on an entry's order (objid) are partial, one per entry type, so in SQLite a
        // join of orders to entries on objid finds no index and reads the whole ledger once per order:
        // SQLite looks each order's entries up by order and type instead. PostgreSQL hash-joins the
        // two tables (Dialect.ledgerAudit).
        const expectCharges = `(CASE WHEN charge > 0 THEN 1 ELSE 0 END)`;
        const expectRefunds = `(CASE WHEN status = 'REFUNDED' AND charge > 0 THEN 1 ELSE 0 END)`;
        const perOrder =
          db.dialect.ledgerAudit === 'probe'
            ? `SELECT o.id, o.status, o.charge,
                 (SELECT COUNT(*) FROM ledger_entries e WHERE e.objid = o.id AND e.type = 'FLEXY' AND e.amount = o.charge) AS charges,
                 (SELECT COUNT(*) FROM ledger_entries e WHERE e.objid = o.id AND e.type = 'FLEXY') AS all_charges,
                 (SELECT COUNT(*) FROM ledger_entries e WHERE e.objid = o.id AND e.type = 'REFUND-FLEXY') AS refunds
               FROM orders o WHERE o.env = 'PRODUCTION'`
            : `SELECT o.id, o.status, o.charge,
                 COUNT(CASE WHEN e.type = 'FLEXY' AND e.amount = o.charge THEN 1 END) AS charges,
                 COUNT(CASE WHEN e.type = 'FLEXY' THEN 1 END) AS all_charges,
                 COUNT(CASE WHEN e.type = 'REFUND-FLEXY' THEN 1 END) AS refunds
               FROM orders o LEFT JOIN ledger_entries e ON e.objid = o.id
               WHERE o.env = 'PRODUCTION'
               GROUP BY o.id, o.status, o.charge`;
        for (const r of yield* all<{ id: string; status: string; charge: number; charges: number; all_charges: number; refunds: number }>(
          `SELECT id, status, charge, charges, all_charges, refunds FROM (${perOrder}) per_order
           WHERE charges <> ${expectCharges} OR all_charges <> ${expectCharges} OR refunds <> ${expectRefunds}`,
        )) {
          const wantCharges = r.charge > 0 ? 1 : 0;
          if (Number(r.charges) !== wantCharges || Number(r.all_charges) !== wantCharges) violations.push({ orderId: r.id, problem: `${r.all_charges} charge entries, expected ${wantCharges}` });
          const wantRefunds = r.status === 'REFUNDED' && r.charge > 0 ? 1 : 0;
          if (Number(r.refunds) !== wantRefunds) violations.push({ orderId: r.id, problem: `${r.refunds} refund entries for a ${r.status} order, expected ${wantRefunds}` });
        }
        const sandbox = yield* one<{ n: number }>(`SELECT COUNT(*) AS n FROM ledger_entries e JOIN orders o ON o.id = e.objid WHERE o.env = 'SANDBOX'`);
        if ((sandbox?.n ?? 0) > 0) violations.push({ problem: `${sandbox?.n} ledger entries for sandbox orders` });
        return violations;
      })()),
  };
}

