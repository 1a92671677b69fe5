/** The kit's store on PostgreSQL: the same tables and guarantees as SQLite, for kit processes on many machines. */
import pg from 'pg';
import type { KitStatus, KitStore, StatusUpdate } from './store.js';
import { FINAL, toEvent, toOrder, type EventRow, type OrderRow } from './kit-rows.js';

/**
 * BIGINT columns (milliseconds) read as numbers, for this pool only: the merchant's own pg code keeps
 * pg's defaults (a global setTypeParser would change them for the whole process).
 */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

const SCHEMA = `
CREATE TABLE IF NOT EXISTS shahn_orders (
  id TEXT PRIMARY KEY,
  ref TEXT NOT NULL UNIQUE,
  topup_id TEXT UNIQUE,
  plan_code TEXT NOT NULL,
  mssidn TEXT NOT NULL,
  amount DOUBLE PRECISION,
  status TEXT NOT NULL,
  refund_message TEXT,
  suggested_offers TEXT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  api_created_at BIGINT,
  known_final_at BIGINT,
  next_check_at BIGINT,
  checks INTEGER NOT NULL DEFAULT 0,
  last_error TEXT
);
CREATE INDEX IF NOT EXISTS shahn_orders_due ON shahn_orders(next_check_at) WHERE status IN ('SENDING', 'PENDING', 'HANDLING');
CREATE INDEX IF NOT EXISTS shahn_orders_uncertain ON shahn_orders(created_at) WHERE status = 'UNKNOWN_ERROR';
CREATE INDEX IF NOT EXISTS shahn_orders_created ON shahn_orders((COALESCE(api_created_at, created_at)));
CREATE TABLE IF NOT EXISTS shahn_order_events (
  order_id TEXT NOT NULL REFERENCES shahn_orders(id),
  transition TEXT NOT NULL CHECK (transition IN ('FULFILLED', 'REFUNDED', 'UNKNOWN_ERROR')),
  snapshot TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'calling', 'done', 'interrupted')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at BIGINT NOT NULL,
  claimed_by TEXT,
  claimed_until BIGINT,
  last_error TEXT,
  created_at BIGINT NOT NULL,
  done_at BIGINT,
  PRIMARY KEY (order_id, transition)
);
CREATE INDEX IF NOT EXISTS shahn_order_events_due ON shahn_order_events(next_attempt_at) WHERE state = 'pending';
`;

export function openPostgresKitStore(url: string, options: { poolSize?: number } = {}): KitStore {
  const pool = new pg.Pool({ connectionString: url, max: options.poolSize ?? 5, connectionTimeoutMillis: 5000, statement_timeout: 10_000, types });
  pool.on('error', () => undefined);
  const q = async <R extends pg.QueryResultRow>(text: string, values: unknown[] = [], c: pg.Pool | pg.PoolClient = pool) => (await c.query<R>(text, values)).rows;

  return {
    async migrate() {
      const c = await pool.connect();
      try {
        await c.query('SELECT pg_advisory_lock(7434562)');
        await c.query(SCHEMA);
      } finally {
        await c.query('SELECT pg_advisory_unlock(7434562)').catch(() => undefined);
        c.release();
      }
    },
    async close() {
      await pool.end();
    },
    async insertOrder(o) {
      const rows = await q(
        `INSERT INTO shahn_orders (id, ref, topup_id, plan_code, mssidn, amount, status, refund_message, suggested_offers, created_at, updated_at,
           api_created_at, known_final_at, next_check_at, checks, last_error)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) ON CONFLICT DO NOTHING RETURNING id`,
        [o.id, o.ref, o.topupId, o.planCode, o.mssidn, o.amount, o.status, o.refundMessage, o.suggestedOffers === null ? null : JSON.stringify(o.suggestedOffers),
          o.createdAt, o.updatedAt, o.apiCreatedAt, o.knownFinalAt, o.nextCheckAt, o.checks, o.lastError],
      );
      return rows.length === 1;
    },
    async getOrder(id) {
      const r = (await q<OrderRow>('SELECT * FROM shahn_orders WHERE id = $1', [id]))[0];
      return r && toOrder(r);
    },
    async getOrderByRef(ref) {
      const r = (await q<OrderRow>('SELECT * FROM shahn_orders WHERE ref = $1', [ref]))[0];
      return r && toOrder(r);
    },
    async applyStatus(id, expected: KitStatus, u: StatusUpdate, now) {
      const c = await pool.connect();
      try {
        await c.query('BEGIN');
        const row = (await q<OrderRow>('SELECT * FROM shahn_orders WHERE id = $1 FOR UPDATE', [id], c))[0];
        if (!row || row.status !== expected) {
          await c.query('ROLLBACK');
          return false;
        }
        const changedToFinal = u.status !== expected && FINAL.has(u.status);
        const updated = (await q<OrderRow>(
          `UPDATE shahn_orders SET status = $1, topup_id = COALESCE($2, topup_id), refund_message = $3, suggested_offers = $4,
             api_created_at = COALESCE($5, api_created_at), next_check_at = $6, known_final_at = CASE WHEN $7 THEN $8::bigint ELSE known_final_at END,
             last_error = $9, updated_at = $8 WHERE id = $10 RETURNING *`,
          [u.status, u.topupId ?? null, u.refundMessage, u.suggestedOffers === null ? null : JSON.stringify(u.suggestedOffers), u.apiCreatedAt, u.nextCheckAt,
            changedToFinal, now, u.lastError ?? null, id], c))[0];
        if (changedToFinal && updated) {
          await q(`INSERT INTO shahn_order_events (order_id, transition, snapshot, state, attempts, next_attempt_at, created_at)
                   VALUES ($1, $2, $3, 'pending', 0, $4, $4) ON CONFLICT DO NOTHING`, [id, u.status, JSON.stringify(toOrder(updated)), now], c);
        }
        await c.query('COMMIT');
        return true;
      } catch (err) {
        await c.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        c.release();
      }
    },
    async recordCheck(id, nextCheckAt, now, apiCreatedAt, calls) {
      await q(`UPDATE shahn_orders SET next_check_at = $1, checks = checks + $2, api_created_at = COALESCE($3, api_created_at), updated_at = $4 WHERE id = $5`,
        [nextCheckAt, calls, apiCreatedAt, now, id]);
    },
    async dueOrders(now, limit) {
      return (await q<OrderRow>(`SELECT * FROM shahn_orders WHERE status IN ('SENDING', 'PENDING', 'HANDLING') AND next_check_at <= $1 ORDER BY next_check_at, created_at LIMIT $2`, [now, limit])).map(toOrder);
    },
    async openBetween(from, to) {
      return (await q<OrderRow>(`SELECT * FROM shahn_orders WHERE status IN ('PENDING', 'HANDLING') AND topup_id IS NOT NULL AND COALESCE(api_created_at, created_at) BETWEEN $1 AND $2`, [from, to])).map(toOrder);
    },
    async countCreatedBetween(from, to) {
      return (await q<{ n: number }>('SELECT COUNT(*)::int AS n FROM shahn_orders WHERE COALESCE(api_created_at, created_at) BETWEEN $1 AND $2', [from, to]))[0]?.n ?? 0;
    },
    async uncertainBefore(cutoff) {
      return (await q<OrderRow>(`SELECT * FROM shahn_orders WHERE status = 'UNKNOWN_ERROR' AND created_at < $1 ORDER BY created_at`, [cutoff])).map(toOrder);
    },
    async claimEvents(owner, now, leaseMs, limit) {
      return (await q<EventRow>(
        `UPDATE shahn_order_events SET state = 'calling', claimed_by = $1, claimed_until = $2, attempts = attempts + 1
         WHERE (order_id, transition) IN (SELECT order_id, transition FROM shahn_order_events WHERE state = 'pending' AND next_attempt_at <= $3
                                          ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED)
         RETURNING *`, [owner, now + leaseMs, now, limit])).map(toEvent);
    },
    async completeEvent(orderId, transition, owner, now) {
      await q(`UPDATE shahn_order_events SET state = 'done', done_at = $1, claimed_until = NULL WHERE order_id = $2 AND transition = $3 AND state = 'calling' AND claimed_by = $4`,
        [now, orderId, transition, owner]);
    },
    async failEvent(orderId, transition, owner, nextAttemptAt, error) {
      await q(`UPDATE shahn_order_events SET state = 'pending', next_attempt_at = $1, last_error = $2, claimed_by = NULL, claimed_until = NULL
               WHERE order_id = $3 AND transition = $4 AND state = 'calling' AND claimed_by = $5`, [nextAttemptAt, error.slice(0, 1000), orderId, transition, owner]);
    },
    async interruptExpiredEvents(now) {
      return (await q<EventRow>(`UPDATE shahn_order_events SET state = 'interrupted' WHERE state = 'calling' AND claimed_until < $1 RETURNING *`, [now])).map(toEvent);
    },
    async listEvents(filter = {}) {
      const where: string[] = [];
      const args: string[] = [];
      if (filter.state) {
        args.push(filter.state);
        where.push(`state = $${args.length}`);
      }
      if (filter.orderId) {
        args.push(filter.orderId);
        where.push(`order_id = $${args.length}`);
      }
      return (await q<EventRow>(`SELECT * FROM shahn_order_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at, order_id`, args)).map(toEvent);
    },
    async redeliver(orderId, transition, now) {
      return (await q(`UPDATE shahn_order_events SET state = 'pending', next_attempt_at = $1, claimed_by = NULL, claimed_until = NULL
                       WHERE order_id = $2 AND transition = $3 AND state = 'interrupted' RETURNING order_id`, [now, orderId, transition])).length === 1;
    },
  };
}
