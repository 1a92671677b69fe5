/**
 * The PostgreSQL store: the same Store interface, migrations and invariants as SQLite, for many API
 * and worker processes on many machines. Money moves in transactions that lock the merchant row;
 * claims use FOR UPDATE SKIP LOCKED. An unreachable or timed-out database surfaces as
 * StoreUnavailableError (503), never as a half-written change.
 */
import pg from 'pg';
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from '../migrations.js';
import {
  KEY_COLUMNS, ORDER_COLUMNS, orderParams, toAdmin, toMerchant, type MerchantRow, toConsoleLogin, visibleStatusSql, type ConsoleLoginRow, toAlert, toAudit, toKey, toLedger, toOrder, toPlan,
  type AdminRow, type AlertRow, type AuditRow, type KeyRow, type LedgerRow, type OrderRow, type PlanRow,
} from '../rows.js';
import { ACCOUNTS, StoreUnavailableError } from '../store.js';
import type {
  AlertRecord, AuditRecord, InsertOrderResult, LedgerEntryRecord, MerchantRecord, MoneyViolation, NewKey, OrderRecord,
  PageRequest, PageResult, RecordedOutcome, ResolveResult, Store,
} from '../store.js';
import { SchemaVersionError } from '../sqlite/open-sqlite-store.js';
import { PURGE_AUTH_FAILURES, RECORD_AUTH_FAILURE } from '../guards-sql.js';

// BIGINT columns hold milliseconds and centimes, far below 2^53: read them as numbers.
pg.types.setTypeParser(20, (v: string) => Number(v));

export interface PostgresStoreOptions {
  /** Connections per process (default 10). */
  poolSize?: number;
  /** Per statement, enforced by the server (default 5000 ms). */
  statementTimeoutMs?: number;
  /** Waiting for a connection (default 10000 ms). */
  connectTimeoutMs?: number;
}

type Q = pg.PoolClient | pg.Pool;

/**
 * SQLSTATEs and socket errors that mean "the database cannot be reached or used right now" (503):
 * class 08 connection exception, 53 insufficient resources (too many connections, disk full),
 * 57 operator intervention (shutdown, crash, cannot connect now, statement timeout), 58 system error,
 * 3D000 the database does not exist (renamed, dropped), 28 the login was refused, 25006 a read-only
 * (standby) server, 40001/40P01 a serialization failure or deadlock (retry). Any failure to obtain a
 * connection is one too, whatever its code (55000: the database does not accept connections).
 */
const UNAVAILABLE_CLASSES = ['08', '53', '57', '58', '28'];
const UNAVAILABLE_CODES = new Set(['3D000', '25006', '40001', '40P01', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

function isUnavailable(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  if (e.code && (UNAVAILABLE_CODES.has(e.code) || UNAVAILABLE_CLASSES.includes(e.code.slice(0, 2)))) return true;
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|connect ECONNREFUSED|Connection ended unexpectedly|Client was closed/i.test(e.message ?? '');
}

function unavailable(err: unknown): StoreUnavailableError {
  return new StoreUnavailableError(`the database is unavailable: ${(err as Error).message}`);
}

function wrap(err: unknown): never {
  if (isUnavailable(err)) throw unavailable(err);
  throw err;
}

/**
 * A pg client that always has an 'error' listener. The server ending a connection (a shutdown, a
 * terminated backend) emits 'error' on the client; on one that is idle between two statements of a
 * transaction, or connecting, nobody else listens, and an unhandled 'error' would end the process.
 * The statement that uses the client next fails and is answered 503.
 */
class GuardedClient extends pg.Client {
  constructor(config?: string | pg.ClientConfig) {
    super(config);
    this.on('error', () => undefined);
  }
}

export function openPostgresStore(url: string, options: PostgresStoreOptions = {}): Store {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    idleTimeoutMillis: 30_000,
    statement_timeout: options.statementTimeoutMs ?? 5000,
    query_timeout: (options.statementTimeoutMs ?? 5000) + 1000,
    application_name: 'shahn',
    Client: GuardedClient,
  });
  // An idle client losing its connection must not crash the process.
  pool.on('error', () => undefined);

  /** A pooled connection; any failure to get one means the database cannot be used (503). */
  const connect = async (): Promise<pg.PoolClient> => {
    try {
      return await pool.connect();
    } catch (err) {
      throw unavailable(err);
    }
  };

  const q = async <R extends pg.QueryResultRow>(c: Q, text: string, values: unknown[] = []): Promise<R[]> => {
    if (c === pool) {
      const client = await connect();
      let failed: unknown;
      try {
        return (await client.query<R>(text, values)).rows;
      } catch (err) {
        failed = err;
        return wrap(err);
      } finally {
        // A broken connection is discarded, not returned to the pool.
        client.release(failed !== undefined && isUnavailable(failed) ? (failed as Error) : undefined);
      }
    }
    try {
      return (await c.query<R>(text, values)).rows;
    } catch (err) {
      return wrap(err);
    }
  };
  const one = async <R extends pg.QueryResultRow>(c: Q, text: string, values: unknown[] = []) => (await q<R>(c, text, values))[0];

  /** A transaction; ROLLBACK on any error. */
  const tx = async <T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> => {
    const c = await connect();
    let failed: unknown;
    try {
      await c.query('BEGIN');
      const result = await fn(c);
      await c.query('COMMIT');
      return result;
    } catch (err) {
      failed = err;
      await c.query('ROLLBACK').catch(() => undefined);
      return wrap(err);
    } finally {
      c.release(failed !== undefined && isUnavailable(failed) ? (failed as Error) : undefined);
    }
  };

  const currentVersion = async (c: Q): Promise<number> => {
    const exists = await one<{ t: string | null }>(c, `SELECT to_regclass('schema_migrations')::text AS t`);
    if (!exists?.t) return 0;
    return (await one<{ v: number }>(c, 'SELECT COALESCE(MAX(version), 0)::int AS v FROM schema_migrations'))?.v ?? 0;
  };

  const insertLedger = (c: pg.PoolClient, e: LedgerEntryRecord) =>
    q(c, `INSERT INTO ledger_entries (id, merchant_id, type, operation, amount, old_balance, new_balance, objid, note, time, counter_account)
          VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [e.id, e.merchantId, e.type, e.operation, e.amount, e.oldBalance, e.newBalance, e.objid, e.note, e.time, e.counterAccount]);

  /** Lock the merchant row: money for one merchant moves one transaction at a time. */
  const lockBalance = async (c: pg.PoolClient, merchantId: string): Promise<number | undefined> =>
    (await one<{ balance: number }>(c, 'SELECT balance FROM merchants WHERE id = $1 FOR UPDATE', [merchantId]))?.balance;

  const insertAudit = (c: Q, a: AuditRecord) =>
    q(c, 'INSERT INTO audit_log (id, at, actor, action, target, reason, details) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [a.id, a.at, a.actor, a.action, a.target, a.reason, JSON.stringify(a.details)]);

  const insertAlert = (c: Q, a: AlertRecord) =>
    q(c, `INSERT INTO alerts (id, order_id, kind, payload, created_at, attempts, next_attempt_at, delivered_at, last_error)
          VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [a.id, a.orderId, a.kind, JSON.stringify(a.payload), a.createdAt, a.attempts, a.nextAttemptAt, a.deliveredAt, a.lastError]);

  const insertKeyRow = (c: Q, merchantId: string, key: NewKey, now: number) =>
    q(c, `INSERT INTO api_keys (id, merchant_id, key_hash, type, scope, is_enabled, allowed_ips, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [key.id, merchantId, key.keyHash, key.type, key.scope, key.isEnabled ? 1 : 0, JSON.stringify(key.allowedIps), now]);

  const insertOrderInner = async (c: pg.PoolClient, order: OrderRecord, charge: { entryId: string; note: string } | null): Promise<InsertOrderResult> => {
    const p = orderParams(order);
    const insert = (onConflict: string) =>
      one<{ id: string }>(c, `INSERT INTO orders (id, merchant_id, env, ref, status, plan_code, mssidn, topup_amount, charge, created_at, updated_at,
              refund_message, suggested_offers, follow_orderid, retry_orderid, sandbox_scenario)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)${onConflict} RETURNING id`,
        [p.id, p.merchantId, p.env, p.ref, p.status, p.planCode, p.mssidn, p.topupAmount, p.charge, p.createdAt, p.updatedAt,
          p.refundMessage, p.suggestedOffers, p.followOrderId, p.retryOrderId, p.sandboxScenario]);
    const existingId = async () =>
      (await one<{ id: string }>(c, 'SELECT id FROM orders WHERE merchant_id = $1 AND env = $2 AND ref = $3', [order.merchantId, order.env, order.ref]))?.id;
    if (charge === null || order.charge <= 0) {
      // No money moves (sandbox): no merchant lock, so a merchant's sandbox sends do not queue behind
      // each other or its production sends; the unique (merchant, env, ref) settles a race.
      if (await insert(' ON CONFLICT (merchant_id, env, ref) DO NOTHING')) {
        const balance = (await one<{ balance: number }>(c, 'SELECT balance FROM merchants WHERE id = $1', [order.merchantId]))?.balance ?? 0;
        return { ok: true, balance };
      }
      return { ok: false, reason: 'DUPLICATED_REF', existingId: (await existingId()) ?? '' };
    }
    // Money moves: the merchant's row lock orders its sends, so the ref check and the balance check hold.
    const available = (await lockBalance(c, order.merchantId)) ?? 0;
    const existing = await existingId();
    if (existing) return { ok: false, reason: 'DUPLICATED_REF', existingId: existing };
    if (available < order.charge) return { ok: false, reason: 'INSUFFICIENT_BALANCE', available };
    await insert('');
    await insertLedger(c, {
      id: charge.entryId, merchantId: order.merchantId, type: 'FLEXY', operation: 'DECREMENT', amount: order.charge,
      oldBalance: available, newBalance: available - order.charge, objid: order.id, note: charge.note, time: order.createdAt,
      counterAccount: ACCOUNTS.operatorSettlement,
    });
    return { ok: true, balance: available - order.charge };
  };

  const refundInner = async (c: pg.PoolClient, row: OrderRow, entryId: string, now: number) => {
    if (row.env !== 'PRODUCTION' || row.charge <= 0) return;
    const old = (await lockBalance(c, row.merchant_id)) ?? 0;
    await insertLedger(c, {
      id: entryId, merchantId: row.merchant_id, type: 'REFUND-FLEXY', operation: 'INCREMENT', amount: row.charge, oldBalance: old,
      newBalance: old + row.charge, objid: row.id, note: `Refund of ${row.plan_code} ${row.mssidn}`, time: now, counterAccount: ACCOUNTS.operatorSettlement,
    });
  };

  const applyOutcome = async (c: pg.PoolClient, row: OrderRow, outcome: RecordedOutcome, now: number) => {
    switch (outcome.status) {
      case 'FULFILLED':
        await q(c, `UPDATE orders SET status = 'FULFILLED', refund_message = NULL, lease_owner = NULL, lease_expires_at = NULL, final_at = $1, updated_at = $1 WHERE id = $2`, [now, row.id]);
        return;
      case 'REFUNDED':
        await refundInner(c, row, outcome.refundEntryId, now);
        await q(c, `UPDATE orders SET status = 'REFUNDED', refund_message = $1, suggested_offers = $2, lease_owner = NULL, lease_expires_at = NULL,
                    final_at = $3, updated_at = $3 WHERE id = $4`,
          [outcome.refundMessage, outcome.suggestedOffers === null ? null : JSON.stringify(outcome.suggestedOffers), now, row.id]);
        return;
      case 'UNKNOWN_ERROR':
        await q(c, `UPDATE orders SET status = 'UNKNOWN_ERROR', refund_message = $1, lease_owner = NULL, lease_expires_at = NULL, final_at = $2, updated_at = $2
                    WHERE id = $3`, [outcome.refundMessage, now, row.id]);
        await insertAlert(c, outcome.alert);
        return;
      case 'PENDING':
        await q(c, `UPDATE orders SET status = 'PENDING', lease_owner = NULL, lease_expires_at = NULL, not_before = $1, updated_at = $2 WHERE id = $3`,
          [outcome.notBefore, now, row.id]);
        return;
    }
  };

  const lockOrder = (c: pg.PoolClient, id: string) => one<OrderRow & { lease_owner: string | null }>(c, 'SELECT * FROM orders WHERE id = $1 FOR UPDATE', [id]);

  const page = async <R extends pg.QueryResultRow, T>(table: string, where: string, whereArgs: unknown[], timeColumn: string, order: string, req: PageRequest, map: (r: R) => T): Promise<PageResult<T>> => {
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
    const total = (await one<{ n: number }>(pool, `SELECT COUNT(*)::int AS n FROM ${table} WHERE ${sql}`, args))?.n ?? 0;
    const rows = await q<R>(pool, `SELECT * FROM ${table} WHERE ${sql} ORDER BY ${order} LIMIT $${args.length + 1} OFFSET $${args.length + 2}`, [...args, req.limit, req.offset]);
    return { items: rows.map(map), total };
  };

  const store: Store = {
    kind: 'postgres',

    async migrate() {
      return tx(async (c) => {
        // One migrator at a time, across processes.
        await c.query('SELECT pg_advisory_xact_lock(7434561)');
        await c.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
        const from = await currentVersion(c);
        if (from > LATEST_SCHEMA_VERSION) {
          throw new SchemaVersionError(`The store's schema is version ${from}, newer than this shahn (${LATEST_SCHEMA_VERSION}). Upgrade shahn.`);
        }
        for (const m of MIGRATIONS) {
          if (m.version <= from) continue;
          await c.query(m.postgres);
          await c.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, Date.now()]);
        }
        return { from, to: await currentVersion(c) };
      });
    },

    async schemaVersion() {
      return currentVersion(pool);
    },

    async ping() {
      await q(pool, 'SELECT 1');
    },

    async close() {
      await pool.end();
    },

    async createMerchant(input) {
      await tx(async (c) => {
        const m = input.merchant;
        await q(c, 'INSERT INTO merchants (id, username, balance, created_at) VALUES ($1, $2, 0, $3)', [m.id, m.username, m.createdAt]);
        for (const key of input.keys) await insertKeyRow(c, m.id, key, m.createdAt);
        if (input.deposit) await insertLedger(c, input.deposit);
      });
    },

    async findMerchantByUsername(username) {
      const r = await one<MerchantRow>(pool, 'SELECT id, username, balance, created_at FROM merchants WHERE username = $1', [username]);
      return r && toMerchant(r);
    },

    async findMerchantById(id) {
      const r = await one<MerchantRow>(pool, 'SELECT id, username, balance, created_at FROM merchants WHERE id = $1', [id]);
      return r && toMerchant(r);
    },

    async countMerchants() {
      return (await one<{ n: number }>(pool, 'SELECT COUNT(*)::int AS n FROM merchants'))?.n ?? 0;
    },

    async findKeyByHash(keyHash) {
      const r = await one<KeyRow>(pool, `SELECT ${KEY_COLUMNS} FROM api_keys k JOIN merchants m ON m.id = k.merchant_id WHERE k.key_hash = $1`, [keyHash]);
      return r && toKey(r);
    },

    async listLedger(merchantId, req) {
      // By the ledger's own order (seq), so each entry's oldBalance is the next older entry's newBalance.
      return page<LedgerRow, LedgerEntryRecord>('ledger_entries', 'merchant_id = $1', [merchantId], 'time', 'seq DESC', req, toLedger);
    },

    async listOperators() {
      const rows = await q<{ name: string; prefixes: string; health_key: 'mobilis' | 'djezzy' | 'ooredoo' | 'mobilisFixedPlans' }>(pool, 'SELECT name, prefixes, health_key FROM operators ORDER BY name');
      return rows.map((r) => ({ name: r.name, prefixes: JSON.parse(r.prefixes) as string[], healthKey: r.health_key }));
    },

    async listPlans() {
      return (await q<PlanRow>(pool, 'SELECT * FROM plans ORDER BY position, code')).map(toPlan);
    },

    async upsertCatalogue(operators, plans) {
      await tx(async (c) => {
        for (const o of operators) {
          await q(c, `INSERT INTO operators (name, prefixes, health_key) VALUES ($1, $2, $3)
                      ON CONFLICT (name) DO UPDATE SET prefixes = excluded.prefixes, health_key = excluded.health_key`, [o.name, JSON.stringify(o.prefixes), o.healthKey]);
        }
        for (const p of plans) {
          await q(c, `INSERT INTO plans (code, name, operator, kind, cost_ppm, is_enabled, min_amount, max_amount, amount, is_menu, position)
                      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                      ON CONFLICT (code) DO UPDATE SET name = excluded.name, operator = excluded.operator, kind = excluded.kind, cost_ppm = excluded.cost_ppm,
                        is_enabled = excluded.is_enabled, min_amount = excluded.min_amount, max_amount = excluded.max_amount, amount = excluded.amount,
                        is_menu = excluded.is_menu, position = excluded.position`,
            [p.code, p.name, p.operator, p.kind, p.costPpm, p.isEnabled ? 1 : 0, p.minAmount, p.maxAmount, p.amount, p.isMenu ? 1 : 0, p.position]);
        }
      });
    },

    async insertOrder(order, charge) {
      return tx((c) => insertOrderInner(c, order, charge));
    },

    async findOrderById(merchantId, env, id) {
      const r = await one<OrderRow>(pool, `SELECT ${ORDER_COLUMNS} FROM orders WHERE id = $1 AND merchant_id = $2 AND env = $3`, [id, merchantId, env]);
      return r && toOrder(r);
    },

    async findOrderByRef(merchantId, env, ref) {
      const r = await one<OrderRow>(pool, `SELECT ${ORDER_COLUMNS} FROM orders WHERE merchant_id = $1 AND env = $2 AND ref = $3`, [merchantId, env, ref]);
      return r && toOrder(r);
    },

    async listOrders(merchantId, env, req) {
      return page<OrderRow, OrderRecord>('orders', 'merchant_id = $1 AND env = $2', [merchantId, env], 'created_at', 'created_at DESC, id DESC', req, toOrder);
    },

    async claimOrders(input) {
      const rows = await q<OrderRow>(pool,
        `UPDATE orders SET status = 'HANDLING', lease_owner = $1, lease_expires_at = $2, attempts = attempts + 1, updated_at = $3
         WHERE id IN (SELECT id FROM orders WHERE status = 'PENDING' AND env = 'PRODUCTION' AND not_before <= $3
                      ORDER BY not_before, created_at LIMIT $4 FOR UPDATE SKIP LOCKED)
         RETURNING *`, [input.owner, input.now + input.leaseMs, input.now, input.limit]);
      return rows.map(toOrder).sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
    },

    async markCallStarted(input) {
      const rows = await q(pool, `UPDATE orders SET call_started_at = $1, updated_at = $1
                  WHERE id = $2 AND status = 'HANDLING' AND lease_owner = $3 AND lease_expires_at > $1 AND call_started_at IS NULL RETURNING id`,
        [input.now, input.orderId, input.owner]);
      return rows.length === 1;
    },

    async recordOutcome(input) {
      return tx(async (c) => {
        const row = await lockOrder(c, input.orderId);
        if (!row) return 'ignored' as const;
        if (row.status === 'HANDLING' && row.lease_owner === input.owner) {
          await applyOutcome(c, row, input.outcome, input.now);
          return 'applied' as const;
        }
        if (row.status === 'UNKNOWN_ERROR' && (input.outcome.status === 'FULFILLED' || input.outcome.status === 'REFUNDED')) {
          await applyOutcome(c, row, input.outcome, input.now);
          await insertAudit(c, {
            id: `${input.orderId}-late-${input.now}`, at: input.now, actor: `processor:${input.owner}`, action: 'order.late-gateway-answer', target: input.orderId,
            reason: 'the gateway answered definitively after the order had become UNKNOWN_ERROR', details: { status: input.outcome.status },
          });
          return 'late' as const;
        }
        return 'ignored' as const;
      });
    },

    async recoverExpiredLeases(input) {
      return tx(async (c) => {
        const rows = await q<OrderRow>(c, `SELECT * FROM orders WHERE status = 'HANDLING' AND lease_expires_at < $1 FOR UPDATE SKIP LOCKED`, [input.now]);
        const requeued: string[] = [];
        const uncertain: OrderRecord[] = [];
        for (const row of rows) {
          if ((row.call_started_at ?? null) === null) {
            await applyOutcome(c, row, { status: 'PENDING', notBefore: 0 }, input.now);
            requeued.push(row.id);
          } else {
            const order = toOrder(row);
            await applyOutcome(c, row, { status: 'UNKNOWN_ERROR', refundMessage: input.refundMessage, alert: input.makeAlert(order) }, input.now);
            uncertain.push({ ...order, status: 'UNKNOWN_ERROR', refundMessage: input.refundMessage });
          }
        }
        return { requeued, uncertain };
      });
    },

    async findOrderAnywhere(id) {
      const r = await one<OrderRow>(pool, 'SELECT * FROM orders WHERE id = $1', [id]);
      return r && toOrder(r);
    },

    async listUncertainOrders(req) {
      return page<OrderRow, OrderRecord>('orders', `status = 'UNKNOWN_ERROR'`, [], 'created_at', 'created_at ASC, id ASC', req, toOrder);
    },

    async resolveOrder(input): Promise<ResolveResult> {
      return tx(async (c) => {
        const row = await lockOrder(c, input.orderId);
        if (!row) return { ok: false, reason: 'NOT_FOUND' };
        if (row.status !== input.expectStatus) return { ok: false, reason: 'CONFLICT', status: row.status };
        if (input.to === 'REFUNDED') {
          await refundInner(c, row, input.refundEntryId, input.now);
          await q(c, `UPDATE orders SET status = 'REFUNDED', refund_message = $1, final_at = $2, updated_at = $2 WHERE id = $3`,
            [input.refundMessage, input.now, row.id]);
        } else {
          await q(c, `UPDATE orders SET status = 'FULFILLED', refund_message = NULL, final_at = $1, updated_at = $1 WHERE id = $2`, [input.now, row.id]);
        }
        await insertAudit(c, input.audit);
        const updated = await one<OrderRow>(c, 'SELECT * FROM orders WHERE id = $1', [row.id]);
        return { ok: true, order: toOrder(updated ?? row) };
      });
    },

    async resendOrder(input) {
      return tx(async (c) => {
        const row = await lockOrder(c, input.originalId);
        if (!row) return { ok: false as const, reason: 'NOT_FOUND' as const };
        if (row.retry_orderid !== null || !(row.status === 'REFUNDED' || row.env === 'SANDBOX')) {
          return { ok: false as const, reason: 'CONFLICT' as const, status: row.status, retryOrderId: row.retry_orderid };
        }
        const result = await insertOrderInner(c, input.order, input.order.env === 'PRODUCTION' ? { entryId: input.chargeEntryId, note: `Re-send of ${row.id}` } : null);
        if (!result.ok) return result;
        await q(c, 'UPDATE orders SET retry_orderid = $1, updated_at = $2 WHERE id = $3', [input.order.id, input.order.createdAt, row.id]);
        await insertAudit(c, input.audit);
        return result;
      });
    },

    async creditWithAudit(input) {
      return tx(async (c) => {
        const old = await lockBalance(c, input.merchantId);
        if (old === undefined) throw new Error(`merchant ${input.merchantId} does not exist`);
        if (old + input.amount > input.maxBalance) return { ok: false as const, reason: 'BALANCE_LIMIT' as const, balance: old };
        const entry: LedgerEntryRecord = {
          id: input.id, merchantId: input.merchantId, type: 'DEPOSIT', operation: 'INCREMENT', amount: input.amount, oldBalance: old,
          newBalance: old + input.amount, objid: input.id, note: input.note, time: input.time, counterAccount: ACCOUNTS.deposits,
        };
        await insertLedger(c, entry);
        await insertAudit(c, input.audit);
        return { ok: true as const, entry };
      });
    },

    async insertAudit(audit) {
      await insertAudit(pool, audit);
    },

    async insertAlertWithAudit(alert, audit) {
      await tx(async (c) => {
        await insertAlert(c, alert);
        await insertAudit(c, audit);
      });
    },

    async listAudit(req) {
      return req.target === undefined
        ? page<AuditRow, AuditRecord>('audit_log', 'TRUE', [], 'at', 'at DESC, id DESC', req, toAudit)
        : page<AuditRow, AuditRecord>('audit_log', 'target = $1', [req.target], 'at', 'at DESC, id DESC', req, toAudit);
    },

    async dueAlerts(now, limit) {
      return (await q<AlertRow>(pool, `SELECT * FROM alerts WHERE delivered_at IS NULL AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $2`, [now, limit])).map(toAlert);
    },

    async claimDueAlerts(now, limit, leaseMs) {
      return (await q<AlertRow>(pool,
        `UPDATE alerts SET next_attempt_at = $1 WHERE id IN
           (SELECT id FROM alerts WHERE delivered_at IS NULL AND next_attempt_at <= $2 ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
         RETURNING *`, [now + leaseMs, now, limit])).map(toAlert);
    },

    async markAlertDelivered(id, now) {
      await q(pool, 'UPDATE alerts SET delivered_at = $1, attempts = attempts + 1, last_error = NULL WHERE id = $2', [now, id]);
    },

    async markAlertFailed(id, nextAttemptAt, error) {
      await q(pool, 'UPDATE alerts SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2 WHERE id = $3', [nextAttemptAt, error.slice(0, 500), id]);
    },

    async setAdminEnabled(id, isEnabled, audit) {
      await tx(async (c) => {
        await q(c, 'UPDATE admins SET is_enabled = $1 WHERE id = $2', [isEnabled ? 1 : 0, id]);
        if (!isEnabled) {
          await q(c, `DELETE FROM console_sessions WHERE login_id IN (SELECT id FROM console_logins WHERE role = 'admin' AND subject_id = $1)`, [id]);
        }
        await insertAudit(c, audit);
      });
    },

    async createAdmin(admin) {
      await q(pool, 'INSERT INTO admins (id, name, token_hash, is_enabled, created_at) VALUES ($1, $2, $3, $4, $5)',
        [admin.id, admin.name, admin.tokenHash, admin.isEnabled ? 1 : 0, admin.createdAt]);
    },

    async findAdminByTokenHash(tokenHash) {
      const r = await one<AdminRow>(pool, 'SELECT * FROM admins WHERE token_hash = $1', [tokenHash]);
      return r && toAdmin(r);
    },

    async findAdminByName(name) {
      const r = await one<AdminRow>(pool, 'SELECT * FROM admins WHERE name = $1', [name]);
      return r && toAdmin(r);
    },

    async findAdminById(id) {
      const r = await one<AdminRow>(pool, 'SELECT * FROM admins WHERE id = $1', [id]);
      return r && toAdmin(r);
    },

    async listMerchants(req) {
      return page<MerchantRow, MerchantRecord>('merchants', 'TRUE', [], 'created_at', 'created_at ASC, id ASC', req, toMerchant);
    },

    async listKeys(merchantId) {
      return (await q<KeyRow>(pool, `SELECT ${KEY_COLUMNS} FROM api_keys k JOIN merchants m ON m.id = k.merchant_id WHERE k.merchant_id = $1 ORDER BY k.created_at, k.id`, [merchantId])).map(toKey);
    },

    async findKeyById(id) {
      const r = await one<KeyRow>(pool, `SELECT ${KEY_COLUMNS} FROM api_keys k JOIN merchants m ON m.id = k.merchant_id WHERE k.id = $1`, [id]);
      return r && toKey(r);
    },

    async updateKey(id, patch, audit) {
      return tx(async (c) => {
        const sets: string[] = [];
        const args: unknown[] = [];
        const set = (column: string, value: unknown) => {
          args.push(value);
          sets.push(`${column} = $${args.length}`);
        };
        if (patch.isEnabled !== undefined) set('is_enabled', patch.isEnabled ? 1 : 0);
        if (patch.allowedIps !== undefined) set('allowed_ips', JSON.stringify(patch.allowedIps));
        if (patch.scope !== undefined) set('scope', patch.scope);
        if (sets.length === 0) return (await one(c, 'SELECT 1 FROM api_keys WHERE id = $1', [id])) !== undefined;
        args.push(id);
        const changed = (await q(c, `UPDATE api_keys SET ${sets.join(', ')} WHERE id = $${args.length} RETURNING id`, args)).length === 1;
        if (changed) await insertAudit(c, audit);
        return changed;
      });
    },

    async rotateKey(oldId, replacement, now, audit) {
      return tx(async (c) => {
        const old = await one<{ merchant_id: string }>(c, 'SELECT merchant_id FROM api_keys WHERE id = $1 FOR UPDATE', [oldId]);
        if (!old) return false;
        await q(c, 'UPDATE api_keys SET is_enabled = 0 WHERE id = $1', [oldId]);
        await insertKeyRow(c, old.merchant_id, replacement, now);
        await insertAudit(c, audit);
        return true;
      });
    },

    async insertKeyWithAudit(merchantId, key, now, audit) {
      await tx(async (c) => {
        await insertKeyRow(c, merchantId, key, now);
        await insertAudit(c, audit);
      });
    },

    async updatePlan(code, patch, audit) {
      const found = await tx(async (c) => {
        const cols: Record<string, string> = { name: 'name', isEnabled: 'is_enabled', costPpm: 'cost_ppm', minAmount: 'min_amount', maxAmount: 'max_amount', amount: 'amount' };
        const sets: string[] = [];
        const args: unknown[] = [];
        for (const [k, col] of Object.entries(cols)) {
          const v = (patch as Record<string, unknown>)[k];
          if (v === undefined) continue;
          args.push(typeof v === 'boolean' ? (v ? 1 : 0) : v);
          sets.push(`${col} = $${args.length}`);
        }
        if (sets.length > 0) {
          args.push(code);
          if ((await q(c, `UPDATE plans SET ${sets.join(', ')} WHERE code = $${args.length} RETURNING code`, args)).length !== 1) return false;
          await insertAudit(c, audit);
        }
        return (await one(c, 'SELECT 1 FROM plans WHERE code = $1', [code])) !== undefined;
      });
      if (!found) return undefined;
      return (await store.listPlans()).find((p) => p.code === code);
    },

    async recordAuthFailure(input) {
      const r = await one<{ failures: number; blocked_until: number }>(pool, RECORD_AUTH_FAILURE, [input.ip, input.now, input.windowMs, input.max, input.blockMs]);
      return { failures: r?.failures ?? 1, blockedUntil: r?.blocked_until ?? 0 };
    },

    async purgeAuthFailures(now, windowMs) {
      return (await q(pool, `${PURGE_AUTH_FAILURES} RETURNING 1`, [now - windowMs, now])).length;
    },

    async blockedIps(now) {
      return (await q<{ ip: string; blocked_until: number }>(pool, 'SELECT ip, blocked_until FROM auth_failures WHERE blocked_until > $1', [now])).map((r) => ({ ip: r.ip, blockedUntil: r.blocked_until }));
    },

    async heartbeat(id, now, liveMs) {
      await q(pool, 'INSERT INTO api_instances (id, seen_at) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at', [id, now]);
      await q(pool, 'DELETE FROM api_instances WHERE seen_at < $1', [now - 10 * liveMs]);
      return (await one<{ n: number }>(pool, 'SELECT COUNT(*)::int AS n FROM api_instances WHERE seen_at >= $1', [now - liveMs]))?.n ?? 1;
    },

    async removeInstance(id) {
      await q(pool, 'DELETE FROM api_instances WHERE id = $1', [id]);
    },

    async checkMoney() {
      const violations: MoneyViolation[] = [];
      for (const r of await q<{ id: string; balance: number; sum: number }>(pool,
        `SELECT m.id, m.balance, COALESCE(SUM(CASE e.operation WHEN 'INCREMENT' THEN e.amount ELSE -e.amount END), 0)::bigint AS sum
         FROM merchants m LEFT JOIN ledger_entries e ON e.merchant_id = m.id GROUP BY m.id, m.balance
         HAVING m.balance <> COALESCE(SUM(CASE e.operation WHEN 'INCREMENT' THEN e.amount ELSE -e.amount END), 0) OR m.balance < 0`)) {
        violations.push({ merchantId: r.id, problem: `balance ${r.balance} != sum of entries ${r.sum}` });
      }
      for (const r of await q<{ id: string; status: string; charge: number; charges: number; all_charges: number; refunds: number }>(pool,
        `SELECT o.id, o.status, o.charge,
           (SELECT COUNT(*)::int FROM ledger_entries e WHERE e.objid = o.id AND e.type = 'FLEXY' AND e.amount = o.charge) AS charges,
           (SELECT COUNT(*)::int FROM ledger_entries e WHERE e.objid = o.id AND e.type = 'FLEXY') AS all_charges,
           (SELECT COUNT(*)::int FROM ledger_entries e WHERE e.objid = o.id AND e.type = 'REFUND-FLEXY') AS refunds
         FROM orders o WHERE o.env = 'PRODUCTION'`)) {
        const wantCharges = r.charge > 0 ? 1 : 0;
        if (r.charges !== wantCharges || r.all_charges !== wantCharges) violations.push({ orderId: r.id, problem: `${r.all_charges} charge entries, expected ${wantCharges}` });
        const wantRefunds = r.status === 'REFUNDED' && r.charge > 0 ? 1 : 0;
        if (r.refunds !== wantRefunds) violations.push({ orderId: r.id, problem: `${r.refunds} refund entries for a ${r.status} order, expected ${wantRefunds}` });
      }
      const sandbox = await one<{ n: number }>(pool, `SELECT COUNT(*)::int AS n FROM ledger_entries e JOIN orders o ON o.id = e.objid WHERE o.env = 'SANDBOX'`);
      if ((sandbox?.n ?? 0) > 0) violations.push({ problem: `${sandbox?.n} ledger entries for sandbox orders` });
      return violations;
    },

    // the web console
    async setConsolePassword(login, audit) {
      await tx(async (c) => {
        const existing = await one<{ id: string }>(c, 'SELECT id FROM console_logins WHERE login = $1 FOR UPDATE', [login.login]);
        if (existing) {
          await q(c, 'UPDATE console_logins SET password_hash = $1, updated_at = $2 WHERE id = $3', [login.passwordHash, login.updatedAt, existing.id]);
          await q(c, 'DELETE FROM console_sessions WHERE login_id = $1', [existing.id]);
        } else {
          await q(c, 'INSERT INTO console_logins (id, role, login, subject_id, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)',
            [login.id, login.role, login.login, login.subjectId, login.passwordHash, login.createdAt, login.updatedAt]);
        }
        await insertAudit(c, audit);
      });
    },

    async findConsoleLogin(login) {
      const r = await one<ConsoleLoginRow>(pool, 'SELECT * FROM console_logins WHERE login = $1', [login]);
      return r && toConsoleLogin(r);
    },

    async createConsoleSession(session) {
      await q(pool, 'DELETE FROM console_sessions WHERE expires_at <= $1', [session.createdAt]);
      await q(pool, 'INSERT INTO console_sessions (token_hash, login_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)',
        [session.tokenHash, session.loginId, session.csrfToken, session.createdAt, session.expiresAt]);
    },

    async findConsoleSession(tokenHash, now) {
      const r = await one<ConsoleLoginRow & { token_hash: string; csrf_token: string; s_created_at: number; expires_at: number }>(pool,
        `SELECT s.token_hash, s.csrf_token, s.created_at AS s_created_at, s.expires_at, l.*
         FROM console_sessions s JOIN console_logins l ON l.id = s.login_id WHERE s.token_hash = $1 AND s.expires_at > $2`, [tokenHash, now]);
      return r && { tokenHash: r.token_hash, csrfToken: r.csrf_token, createdAt: r.s_created_at, expiresAt: r.expires_at, login: toConsoleLogin(r) };
    },

    async deleteConsoleSession(tokenHash) {
      await q(pool, 'DELETE FROM console_sessions WHERE token_hash = $1', [tokenHash]);
    },

    async listOrdersFiltered(merchantId, env, filter, req) {
      const args: unknown[] = [merchantId, env];
      const where = ['merchant_id = $1 AND env = $2'];
      const arg = (v: unknown) => {
        args.push(v);
        return `$${args.length}::bigint`;
      };
      if (filter.status) {
        const now = arg(filter.now);
        const unknownMs = arg(filter.sandboxUnknownResolveMs);
        args.push(filter.status);
        where.push(`${visibleStatusSql(now, unknownMs)} = $${args.length}`);
      }
      if (filter.mssidn) {
        args.push(filter.mssidn);
        where.push(`mssidn = $${args.length}`);
      }
      if (filter.ref) {
        args.push(filter.ref);
        where.push(`ref = $${args.length}`);
      }
      return page<OrderRow, OrderRecord>('orders', where.join(' AND '), args, 'created_at', 'created_at DESC, id DESC', req, toOrder);
    },

    async searchOrders(query, limit) {
      const rows = await q<OrderRow>(pool,
        `SELECT ${ORDER_COLUMNS} FROM orders WHERE id = $1
         UNION SELECT o.* FROM merchants m CROSS JOIN (VALUES ('PRODUCTION'), ('SANDBOX')) AS e(env),
           LATERAL (SELECT ${ORDER_COLUMNS} FROM orders WHERE merchant_id = m.id AND env = e.env AND ref = $1) o
         UNION (SELECT ${ORDER_COLUMNS} FROM orders WHERE mssidn = $1 ORDER BY created_at DESC LIMIT $2)
         ORDER BY created_at DESC, id DESC LIMIT $2`, [query, limit]);
      return rows.map(toOrder);
    },

    async orderStats(input) {
      const args: unknown[] = [input.from, input.bucketMs, input.now, input.sandboxUnknownResolveMs, input.env, input.to];
      if (input.merchantId) args.push(input.merchantId);
      const rows = await q<{ b: number; s: OrderRecord['status']; n: number }>(pool,
        `SELECT (created_at - $1::bigint) / $2::bigint AS b, ${visibleStatusSql('$3::bigint', '$4::bigint')} AS s, COUNT(*)::int AS n FROM orders
         WHERE env = $5 AND created_at >= $1::bigint AND created_at < $6::bigint${input.merchantId ? ' AND merchant_id = $7' : ''} GROUP BY 1, 2 ORDER BY 1`, args);
      return rows.map((r) => ({ bucket: input.from + Number(r.b) * input.bucketMs, status: r.s, count: r.n }));
    },

    async outcomeStats(input) {
      const rows = await q<{ b: number; s: OrderRecord['status']; n: number }>(pool,
        `SELECT (final_at - $1::bigint) / $2::bigint AS b, status AS s, COUNT(*)::int AS n FROM orders
         WHERE final_at >= $1::bigint AND final_at < $3::bigint AND env = 'PRODUCTION' GROUP BY 1, 2 ORDER BY 1`, [input.from, input.bucketMs, input.to]);
      return rows.map((r) => ({ bucket: input.from + Number(r.b) * input.bucketMs, status: r.s, count: r.n }));
    },

    async countOpenOrders() {
      const r = await one<{ pending: number; handling: number }>(pool,
        `SELECT (SELECT COUNT(*)::int FROM orders WHERE status = 'PENDING' AND env = 'PRODUCTION') AS pending,
                (SELECT COUNT(*)::int FROM orders WHERE status = 'HANDLING') AS handling`);
      return { PENDING: r?.pending ?? 0, HANDLING: r?.handling ?? 0 };
    },

    async timesToFinal(input) {
      const args: unknown[] = [input.from, input.to, input.limit];
      if (input.merchantId) args.push(input.merchantId);
      const rows = await q<{ d: number }>(pool,
        `SELECT final_at - created_at AS d FROM orders WHERE env = 'PRODUCTION' AND final_at >= $1 AND final_at < $2${input.merchantId ? ' AND merchant_id = $4' : ''}
         ORDER BY final_at DESC LIMIT $3`, args);
      return rows.map((r) => Number(r.d));
    },
  };
  return store;
}
