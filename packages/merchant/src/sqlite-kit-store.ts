/** The kit's store on SQLite (better-sqlite3, WAL): safe for several kit processes on one file. */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Database as Db } from 'better-sqlite3';
import type { KitStatus, KitStore, StatusUpdate } from './store.js';
import { FINAL, toEvent, toOrder, type EventRow, type OrderRow } from './kit-rows.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS shahn_orders (
  id TEXT PRIMARY KEY,
  ref TEXT NOT NULL UNIQUE,
  topup_id TEXT UNIQUE,
  plan_code TEXT NOT NULL,
  mssidn TEXT NOT NULL,
  amount REAL,
  status TEXT NOT NULL,
  refund_message TEXT,
  suggested_offers TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  api_created_at INTEGER,
  known_final_at INTEGER,
  next_check_at INTEGER,
  checks INTEGER NOT NULL DEFAULT 0,
  last_error TEXT
);
CREATE INDEX IF NOT EXISTS shahn_orders_due ON shahn_orders(next_check_at) WHERE status IN ('SENDING', 'PENDING', 'HANDLING');
CREATE INDEX IF NOT EXISTS shahn_orders_uncertain ON shahn_orders(created_at) WHERE status = 'UNKNOWN_ERROR';
CREATE INDEX IF NOT EXISTS shahn_orders_created ON shahn_orders(COALESCE(api_created_at, created_at));
CREATE TABLE IF NOT EXISTS shahn_order_events (
  order_id TEXT NOT NULL REFERENCES shahn_orders(id),
  transition TEXT NOT NULL CHECK (transition IN ('FULFILLED', 'REFUNDED', 'UNKNOWN_ERROR')),
  snapshot TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'calling', 'done', 'interrupted')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  claimed_by TEXT,
  claimed_until INTEGER,
  last_error TEXT,
  created_at INTEGER NOT NULL,
  done_at INTEGER,
  PRIMARY KEY (order_id, transition)
);
CREATE INDEX IF NOT EXISTS shahn_order_events_due ON shahn_order_events(next_attempt_at) WHERE state = 'pending';
`;

export function openSqliteKitStore(path: string): KitStore {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db: Db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');

  const applyTx = db.transaction((id: string, expected: KitStatus, u: StatusUpdate, now: number): boolean => {
    const row = db.prepare('SELECT * FROM shahn_orders WHERE id = ?').get(id) as OrderRow | undefined;
    if (!row || row.status !== expected) return false;
    const changedToFinal = u.status !== expected && FINAL.has(u.status);
    db.prepare(
      `UPDATE shahn_orders SET status = ?, topup_id = COALESCE(?, topup_id), refund_message = ?, suggested_offers = ?,
         api_created_at = COALESCE(?, api_created_at), next_check_at = ?, known_final_at = CASE WHEN ? THEN ? ELSE known_final_at END,
         last_error = ?, checks = checks, updated_at = ? WHERE id = ?`,
    ).run(
      u.status, u.topupId ?? null, u.refundMessage, u.suggestedOffers === null ? null : JSON.stringify(u.suggestedOffers),
      u.apiCreatedAt, u.nextCheckAt, changedToFinal ? 1 : 0, now, u.lastError ?? null, now, id,
    );
    if (changedToFinal) {
      const updated = toOrder(db.prepare('SELECT * FROM shahn_orders WHERE id = ?').get(id) as OrderRow);
      db.prepare(
        `INSERT OR IGNORE INTO shahn_order_events (order_id, transition, snapshot, state, attempts, next_attempt_at, created_at)
         VALUES (?, ?, ?, 'pending', 0, ?, ?)`,
      ).run(id, u.status, JSON.stringify(updated), now, now);
    }
    return true;
  });

  const claimTx = db.transaction((owner: string, now: number, leaseMs: number, limit: number) =>
    (db
      .prepare(
        `UPDATE shahn_order_events SET state = 'calling', claimed_by = ?, claimed_until = ?, attempts = attempts + 1
         WHERE rowid IN (SELECT rowid FROM shahn_order_events WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?)
         RETURNING *`,
      )
      .all(owner, now + leaseMs, now, limit) as EventRow[]).map(toEvent),
  );

  const interruptTx = db.transaction((now: number) =>
    (db
      .prepare(`UPDATE shahn_order_events SET state = 'interrupted' WHERE state = 'calling' AND claimed_until < ? RETURNING *`)
      .all(now) as EventRow[]).map(toEvent),
  );

  return {
    async migrate() {
      db.exec(SCHEMA);
    },
    async close() {
      if (db.open) db.close();
    },
    async insertOrder(o) {
      const r = db
        .prepare(
          `INSERT OR IGNORE INTO shahn_orders (id, ref, topup_id, plan_code, mssidn, amount, status, refund_message, suggested_offers,
             created_at, updated_at, api_created_at, known_final_at, next_check_at, checks, last_error)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          o.id, o.ref, o.topupId, o.planCode, o.mssidn, o.amount, o.status, o.refundMessage,
          o.suggestedOffers === null ? null : JSON.stringify(o.suggestedOffers), o.createdAt, o.updatedAt, o.apiCreatedAt,
          o.knownFinalAt, o.nextCheckAt, o.checks, o.lastError,
        );
      return r.changes === 1;
    },
    async getOrder(id) {
      const r = db.prepare('SELECT * FROM shahn_orders WHERE id = ?').get(id) as OrderRow | undefined;
      return r && toOrder(r);
    },
    async getOrderByRef(ref) {
      const r = db.prepare('SELECT * FROM shahn_orders WHERE ref = ?').get(ref) as OrderRow | undefined;
      return r && toOrder(r);
    },
    async applyStatus(id, expected, update, now) {
      return applyTx.immediate(id, expected, update, now);
    },
    async recordCheck(id, nextCheckAt, now, apiCreatedAt, calls) {
      db.prepare(
        `UPDATE shahn_orders SET next_check_at = ?, checks = checks + ?, api_created_at = COALESCE(?, api_created_at), updated_at = ? WHERE id = ?`,
      ).run(nextCheckAt, calls, apiCreatedAt, now, id);
    },
    async dueOrders(now, limit) {
      return (db
        .prepare(`SELECT * FROM shahn_orders WHERE status IN ('SENDING', 'PENDING', 'HANDLING') AND next_check_at <= ? ORDER BY next_check_at, created_at LIMIT ?`)
        .all(now, limit) as OrderRow[]).map(toOrder);
    },
    async openBetween(from, to) {
      return (db
        .prepare(`SELECT * FROM shahn_orders WHERE status IN ('PENDING', 'HANDLING') AND topup_id IS NOT NULL AND COALESCE(api_created_at, created_at) BETWEEN ? AND ?`)
        .all(from, to) as OrderRow[]).map(toOrder);
    },
    async countCreatedBetween(from, to) {
      return (db.prepare('SELECT COUNT(*) AS n FROM shahn_orders WHERE COALESCE(api_created_at, created_at) BETWEEN ? AND ?').get(from, to) as { n: number }).n;
    },
    async uncertainBefore(cutoff) {
      return (db.prepare(`SELECT * FROM shahn_orders WHERE status = 'UNKNOWN_ERROR' AND created_at < ? ORDER BY created_at`).all(cutoff) as OrderRow[]).map(toOrder);
    },
    async claimEvents(owner, now, leaseMs, limit) {
      return claimTx.immediate(owner, now, leaseMs, limit);
    },
    async completeEvent(orderId, transition, owner, now) {
      db.prepare(
        `UPDATE shahn_order_events SET state = 'done', done_at = ?, claimed_until = NULL WHERE order_id = ? AND transition = ? AND state = 'calling' AND claimed_by = ?`,
      ).run(now, orderId, transition, owner);
    },
    async failEvent(orderId, transition, owner, nextAttemptAt, error) {
      db.prepare(
        `UPDATE shahn_order_events SET state = 'pending', next_attempt_at = ?, last_error = ?, claimed_by = NULL, claimed_until = NULL
         WHERE order_id = ? AND transition = ? AND state = 'calling' AND claimed_by = ?`,
      ).run(nextAttemptAt, error.slice(0, 1000), orderId, transition, owner);
    },
    async interruptExpiredEvents(now) {
      return interruptTx.immediate(now);
    },
    async listEvents(filter = {}) {
      const where: string[] = [];
      const args: string[] = [];
      if (filter.state) {
        where.push('state = ?');
        args.push(filter.state);
      }
      if (filter.orderId) {
        where.push('order_id = ?');
        args.push(filter.orderId);
      }
      return (db.prepare(`SELECT * FROM shahn_order_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at, order_id`).all(...args) as EventRow[]).map(toEvent);
    },
    async redeliver(orderId, transition, now) {
      return (
        db.prepare(`UPDATE shahn_order_events SET state = 'pending', next_attempt_at = ?, claimed_by = NULL, claimed_until = NULL WHERE order_id = ? AND transition = ? AND state = 'interrupted'`).run(
          now, orderId, transition,
        ).changes === 1
      );
    },
  };
}
