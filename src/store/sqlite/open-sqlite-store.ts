/**
 * The embedded store: one SQLite file (better-sqlite3 12, WAL mode). better-sqlite3 is synchronous,
 * so every transaction here runs without interleaving inside this process; BEGIN IMMEDIATE and a
 * busy timeout serialise writers across processes (a CLI next to `shahn serve`).
 */
import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Database as Db, Statement } from 'better-sqlite3';
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from '../migrations.js';
import { startBackgroundCheckpoint, type BackgroundCheckpoint } from './background-checkpoint.js';
import { ACCOUNTS, StoreOpenError } from '../store.js';
import { bindSlots, toSqlite } from '../sql-text.js';
import { PURGE_AUTH_FAILURES, RECORD_AUTH_FAILURE } from '../guards-sql.js';
import {
  KEY_COLUMNS, ORDER_COLUMNS, orderParams, toAdmin, toMerchant, type MerchantRow, toConsoleLogin, visibleStatusSql, type ConsoleLoginRow, toAlert, toAudit, toKey, toLedger, toOrder, toPlan,
  type AdminRow, type AlertRow, type AuditRow, type KeyRow, type LedgerRow, type OrderRow, type PlanRow,
} from '../rows.js';
import type {
  AlertRecord,
  AuditRecord,
  InsertOrderResult,
  KeyRecord,
  LedgerEntryRecord,
  NewKey,
  OperatorRecord,
  OrderRecord,
  PageRequest,
  PageResult,
  PlanRecord,
  RecordedOutcome,
  ResolveResult,
  Store,
  MoneyViolation,
  MerchantRecord,
} from '../store.js';


export class SchemaVersionError extends Error {}

export interface SqliteStoreOptions {
  /** Milliseconds a writer waits for another process's lock. */
  busyTimeoutMs?: number;
  /** Orders kept in memory for reads by id (check-id); 0 turns the cache off. Default 50,000. */
  orderCacheSize?: number;
  /** Bound the database file to this many pages (PRAGMA max_page_count): a write past it fails as "database or disk is full". */
  maxPageCount?: number;
}

/** How long a cached order may be served after another process committed a change (PRAGMA data_version is checked this often). */
export const ORDER_CACHE_OTHERS_MS = 1;

function windowClause(page: PageRequest, column: string): { sql: string; args: number[] } {
  const parts: string[] = [];
  const args: number[] = [];
  if (page.from !== undefined) {
    parts.push(`${column} >= ?`);
    args.push(page.from);
  }
  if (page.to !== undefined) {
    parts.push(`${column} <= ?`);
    args.push(page.to);
  }
  return { sql: parts.length ? ` AND ${parts.join(' AND ')}` : '', args };
}

/** Synchronous reads for the check-id hot path (server/fast-check-id.ts): no promise per request. */
export interface SyncOrderReads {
  findOrderById(merchantId: string, env: OrderRecord['env'], id: string): OrderRecord | undefined;
}
const syncReads = new WeakMap<Store, SyncOrderReads>();
/** The synchronous reads of a SQLite store; undefined for any other store. */
export function syncOrderReads(store: Store): SyncOrderReads | undefined {
  return syncReads.get(store);
}

/** Background WAL checkpoints (background-checkpoint.ts): how often, and the WAL's bound in pages (≈ 16 MiB). */
const CHECKPOINT_EVERY_MS = 20;
const WAL_BOUND_PAGES = 4000;

/** Why a SQLite file cannot be opened, in words a person can act on. */
function openProblem(path: string, err: unknown): StoreOpenError {
  const e = err as NodeJS.ErrnoException & { code?: string };
  let why: string;
  let fix = 'Set SHAHN_DB (or --db) to a file path in a folder this user can write, such as ./data/shahn.db.';
  const isDir = (() => {
    try {
      return statSync(path).isDirectory();
    } catch {
      return false;
    }
  })();
  if (isDir) {
    why = 'it is a folder, not a file';
    fix = `Give a file path inside it, such as ${path.replace(/\/+$/, '')}/shahn.db.`;
  } else if (e.code === 'EEXIST' || e.code === 'ENOTDIR') why = 'a part of the path is a file, not a folder';
  else if (e.code === 'EACCES' || e.code === 'EPERM' || e.code === 'SQLITE_READONLY' || e.code === 'EROFS') why = 'this user may not write there';
  else if (e.code === 'SQLITE_NOTADB') {
    why = 'the file is not a SQLite database';
    fix = 'Point SHAHN_DB at a shahn store, or at a path where a new one may be created.';
  } else if (e.code === 'SQLITE_CORRUPT') {
    why = 'the database file is damaged';
    fix = 'Restore it from a backup.';
  } else why = e.message;
  return new StoreOpenError(`Cannot open the SQLite store at "${path}": ${why}. ${fix}`);
}

export function openSqliteStore(path: string, options: SqliteStoreOptions = {}): Store {
  let db: Db;
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
    // Reads are the hot path: map the file (no read() per page) and keep more pages cached.
    db.pragma('mmap_size = 268435456');
    db.pragma('cache_size = -65536');
    if (options.maxPageCount !== undefined) db.pragma(`max_page_count = ${options.maxPageCount}`);
    // Savepoints (the fallback of the group commit, resends) keep their statement journal in memory, not in a temp file.
    db.pragma('temp_store = MEMORY');
    db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
  } catch (err) {
    throw openProblem(path, err);
  }

  const currentVersion = (): number =>
    (db.prepare('SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations').get() as { v: number }).v;

  // Statements are prepared lazily (the tables exist only after migrate()).
  const cache = new Map<string, Statement>();
  const stmt = (sql: string): Statement => {
    let s = cache.get(sql);
    if (!s) {
      s = db.prepare(sql);
      cache.set(sql, s);
    }
    return s;
  };
  /** A statement written once for both stores ($n placeholders, PostgreSQL casts), bound in its own argument order. */
  const sharedCache = new Map<string, { get(...args: unknown[]): unknown; run(...args: unknown[]): { changes: number } }>();
  const shared = (text: string) => {
    let s = sharedCache.get(text);
    if (!s) {
      const { sql, slots } = toSqlite(text);
      const prepared = db.prepare(sql);
      s = {
        get: (...args: unknown[]) => prepared.get(...bindSlots(slots, args)),
        run: (...args: unknown[]) => prepared.run(...bindSlots(slots, args)),
      };
      sharedCache.set(text, s);
    }
    return s;
  };

  const insertLedgerSql = `INSERT INTO ledger_entries
    (id, merchant_id, type, operation, amount, old_balance, new_balance, objid, note, time, counter_account)
    VALUES (@id, @merchantId, @type, @operation, @amount, @oldBalance, @newBalance, @objid, @note, @time, @counterAccount)`;

  const insertKeyRow = (merchantId: string, key: NewKey, now: number) =>
    stmt(`INSERT INTO api_keys (id, merchant_id, key_hash, type, scope, is_enabled, allowed_ips, created_at)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?)`).run(
      key.id, merchantId, key.keyHash, key.type, key.scope, key.isEnabled ? 1 : 0, JSON.stringify(key.allowedIps), now,
    );

  const balanceOf = (merchantId: string): number | undefined =>
    (stmt('SELECT balance FROM merchants WHERE id = ?').get(merchantId) as { balance: number } | undefined)?.balance;

  const createMerchantTx = db.transaction((input: Parameters<Store['createMerchant']>[0]) => {
    const m = input.merchant;
    stmt('INSERT INTO merchants (id, username, balance, created_at) VALUES (?, ?, 0, ?)').run(m.id, m.username, m.createdAt);
    for (const key of input.keys) insertKeyRow(m.id, key, m.createdAt);
    if (input.deposit) stmt(insertLedgerSql).run(input.deposit);
  });

  const creditTx = db.transaction((input: { id: string; merchantId: string; amount: number; note: string; time: number }): LedgerEntryRecord => {
    const old = balanceOf(input.merchantId);
    if (old === undefined) throw new Error(`merchant ${input.merchantId} does not exist`);
    const entry: LedgerEntryRecord = {
      id: input.id,
      merchantId: input.merchantId,
      type: 'DEPOSIT',
      operation: 'INCREMENT',
      amount: input.amount,
      oldBalance: old,
      newBalance: old + input.amount,
      objid: input.id,
      note: input.note,
      time: input.time,
      counterAccount: ACCOUNTS.deposits,
    };
    stmt(insertLedgerSql).run(entry);
    return entry;
  });

  const insertOrderSql = `INSERT INTO orders
    (id, merchant_id, env, ref, status, plan_code, mssidn, topup_amount, charge, created_at, updated_at,
     refund_message, suggested_offers, follow_orderid, retry_orderid, sandbox_scenario)
    VALUES (@id, @merchantId, @env, @ref, @status, @planCode, @mssidn, @topupAmount, @charge, @createdAt, @updatedAt,
     @refundMessage, @suggestedOffers, @followOrderId, @retryOrderId, @sandboxScenario)`;

  /** Inside a transaction: ref check, then (production) balance check + FLEXY entry, then the order. */
  const insertOrderInner = (order: OrderRecord, charge: { entryId: string; note: string } | null): InsertOrderResult => {
    const existing = stmt('SELECT id FROM orders WHERE merchant_id = ? AND env = ? AND ref = ?').get(
      order.merchantId, order.env, order.ref,
    ) as { id: string } | undefined;
    if (existing) return { ok: false, reason: 'DUPLICATED_REF', existingId: existing.id };
    if (charge !== null && order.charge > 0) {
      const available = balanceOf(order.merchantId) ?? 0;
      if (available < order.charge) return { ok: false, reason: 'INSUFFICIENT_BALANCE', available };
      stmt(insertOrderSql).run(orderParams(order));
      stmt(insertLedgerSql).run({
        id: charge.entryId,
        merchantId: order.merchantId,
        type: 'FLEXY',
        operation: 'DECREMENT',
        amount: order.charge,
        oldBalance: available,
        newBalance: available - order.charge,
        objid: order.id,
        note: charge.note,
        time: order.createdAt,
        counterAccount: ACCOUNTS.operatorSettlement,
      });
      return { ok: true, balance: available - order.charge };
    }
    stmt(insertOrderSql).run(orderParams(order));
    return { ok: true, balance: balanceOf(order.merchantId) ?? 0 };
  };
  const insertOrderTx = db.transaction(insertOrderInner);

  /**
   * Group commit: the sends that arrive in one turn of the event loop are written in one
   * BEGIN IMMEDIATE … COMMIT, and each caller is answered only after the commit. A commit is most of
   * a send's cost; sharing it lets sends scale with load.
   *
   * One refused or failing order never affects another. A refusal (DUPLICATED_REF,
   * INSUFFICIENT_BALANCE) is decided before its order writes anything. An order that throws part-way
   * (a constraint, a trigger, an I/O error) would leave its first writes in the shared transaction, so
   * then the whole batch is rolled back (nothing of it was committed) and written again with each order
   * in its own savepoint. The savepoints are kept off the common path: each costs a copy of every page
   * the order touches (the statement journal).
   */
  type Pending = { order: OrderRecord; charge: { entryId: string; note: string } | null; resolve: (r: InsertOrderResult) => void; reject: (e: unknown) => void };
  type Outcome = { ok: true; value: InsertOrderResult } | { ok: false; error: unknown };
  class OrderFailed extends Error {
    constructor(readonly orderError: unknown) {
      super('an order of the batch failed');
    }
  }
  const writeBatchShared = db.transaction((items: Pending[]): Outcome[] =>
    items.map((it) => {
      try {
        return { ok: true, value: insertOrderInner(it.order, it.charge) };
      } catch (error) {
        throw new OrderFailed(error);
      }
    }),
  );
  const writeBatchIsolated = db.transaction((items: Pending[]): Outcome[] =>
    items.map((it) => {
      try {
        return { ok: true, value: insertOrderTx(it.order, it.charge) };
      } catch (error) {
        // Some errors (a full disk, an I/O error) make SQLite roll back the whole transaction, not only
        // the savepoint: then the batch fails as a whole, before a later order could commit on its own.
        if (!db.inTransaction) throw error;
        return { ok: false, error };
      }
    }),
  );
  let batch: Pending[] | null = null;
  let checkpointer: BackgroundCheckpoint | undefined;
  const flushBatch = () => {
    const items = batch ?? [];
    batch = null;
    let results: Outcome[];
    try {
      try {
        results = writeBatchShared.immediate(items);
      } catch (error) {
        if (!(error instanceof OrderFailed)) throw error; // BEGIN or COMMIT failed: nothing was written
        // Rolled back; a lone order fails on its own, a batch is written again with one savepoint per order.
        results = items.length === 1 ? [{ ok: false, error: error.orderError }] : writeBatchIsolated.immediate(items);
      }
    } catch (error) {
      for (const it of items) it.reject(error);
      return;
    }
    if (checkpointer === undefined && path !== ':memory:' && path !== '') {
      checkpointer = startBackgroundCheckpoint(path, CHECKPOINT_EVERY_MS);
      db.pragma(`wal_autocheckpoint = ${WAL_BOUND_PAGES}`);
    }
    checkpointer?.committed();
    items.forEach((it, i) => {
      const r = results[i]!;
      if (r.ok) it.resolve(r.value);
      else it.reject(r.error);
    });
  };
  const insertOrderGrouped = (order: OrderRecord, charge: { entryId: string; note: string } | null) =>
    new Promise<InsertOrderResult>((resolve, reject) => {
      if (!batch) {
        batch = [];
        setImmediate(flushBatch);
      }
      batch.push({ order, charge, resolve, reject });
    });


  const findOrderRow = (id: string) => stmt('SELECT * FROM orders WHERE id = ?').get(id) as OrderRow | undefined;

  const insertAuditRow = (a: AuditRecord) =>
    stmt('INSERT INTO audit_log (id, at, actor, action, target, reason, details) VALUES (?, ?, ?, ?, ?, ?, ?)').run(
      a.id, a.at, a.actor, a.action, a.target, a.reason, JSON.stringify(a.details),
    );

  const insertAlertRow = (a: AlertRecord) =>
    stmt(`INSERT INTO alerts (id, order_id, kind, payload, created_at, attempts, next_attempt_at, delivered_at, last_error)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
      a.id, a.orderId, a.kind, JSON.stringify(a.payload), a.createdAt, a.attempts, a.nextAttemptAt, a.deliveredAt, a.lastError,
    );

  /** Return an order's charge to its merchant (inside a transaction). */
  const refundInner = (row: OrderRow, entryId: string, now: number) => {
    if (row.env !== 'PRODUCTION' || row.charge <= 0) return;
    const old = balanceOf(row.merchant_id) ?? 0;
    stmt(insertLedgerSql).run({
      id: entryId,
      merchantId: row.merchant_id,
      type: 'REFUND-FLEXY',
      operation: 'INCREMENT',
      amount: row.charge,
      oldBalance: old,
      newBalance: old + row.charge,
      objid: row.id,
      note: `Refund of ${row.plan_code} ${row.mssidn}`,
      time: now,
      counterAccount: ACCOUNTS.operatorSettlement,
    });
  };

  /** Apply a final (or requeue) outcome to an order row (inside a transaction). */
  const applyOutcome = (row: OrderRow, outcome: RecordedOutcome, now: number) => {
    orderChanged(row.id);
    switch (outcome.status) {
      case 'FULFILLED':
        stmt(`UPDATE orders SET status = 'FULFILLED', refund_message = NULL, lease_owner = NULL, lease_expires_at = NULL, final_at = ?, updated_at = ?
              WHERE id = ?`).run(now, now, row.id);
        return;
      case 'REFUNDED':
        refundInner(row, outcome.refundEntryId, now);
        stmt(`UPDATE orders SET status = 'REFUNDED', refund_message = ?, suggested_offers = ?, lease_owner = NULL,
              lease_expires_at = NULL, final_at = ?, updated_at = ? WHERE id = ?`).run(
          outcome.refundMessage,
          outcome.suggestedOffers === null ? null : JSON.stringify(outcome.suggestedOffers),
          now, now, row.id,
        );
        return;
      case 'UNKNOWN_ERROR':
        stmt(`UPDATE orders SET status = 'UNKNOWN_ERROR', refund_message = ?, lease_owner = NULL, lease_expires_at = NULL,
              final_at = ?, updated_at = ? WHERE id = ?`).run(outcome.refundMessage, now, now, row.id);
        insertAlertRow(outcome.alert);
        return;
      case 'PENDING':
        stmt(`UPDATE orders SET status = 'PENDING', lease_owner = NULL, lease_expires_at = NULL, not_before = ?, updated_at = ?
              WHERE id = ?`).run(outcome.notBefore, now, row.id);
        return;
    }
  };

  const recordOutcomeTx = db.transaction((input: { orderId: string; owner: string; now: number; outcome: RecordedOutcome }) => {
    const row = findOrderRow(input.orderId);
    if (!row) return 'ignored' as const;
    const r = row as OrderRow & { lease_owner: string | null };
    if (r.status === 'HANDLING' && r.lease_owner === input.owner) {
      applyOutcome(row, input.outcome, input.now);
      return 'applied' as const;
    }
    if (r.status === 'UNKNOWN_ERROR' && (input.outcome.status === 'FULFILLED' || input.outcome.status === 'REFUNDED')) {
      applyOutcome(row, input.outcome, input.now);
      insertAuditRow({
        id: `${input.orderId}-late-${input.now}`,
        at: input.now,
        actor: `processor:${input.owner}`,
        action: 'order.late-gateway-answer',
        target: input.orderId,
        reason: 'the gateway answered definitively after the order had become UNKNOWN_ERROR',
        details: { status: input.outcome.status },
      });
      return 'late' as const;
    }
    return 'ignored' as const;
  });

  const recoverTx = db.transaction(
    (input: { now: number; refundMessage: string; makeAlert: (order: OrderRecord) => AlertRecord }) => {
      const rows = stmt(`SELECT * FROM orders WHERE status = 'HANDLING' AND lease_expires_at < ?`).all(input.now) as OrderRow[];
      const requeued: string[] = [];
      const uncertain: OrderRecord[] = [];
      for (const row of rows) {
        if ((row.call_started_at ?? null) === null) {
          applyOutcome(row, { status: 'PENDING', notBefore: 0 }, input.now);
          requeued.push(row.id);
        } else {
          const order = toOrder(row);
          applyOutcome(row, { status: 'UNKNOWN_ERROR', refundMessage: input.refundMessage, alert: input.makeAlert(order) }, input.now);
          uncertain.push({ ...order, status: 'UNKNOWN_ERROR', refundMessage: input.refundMessage });
        }
      }
      return { requeued, uncertain };
    },
  );

  const resolveTx = db.transaction((input: Parameters<Store['resolveOrder']>[0]): ResolveResult => {
    const row = findOrderRow(input.orderId);
    if (!row) return { ok: false, reason: 'NOT_FOUND' };
    if (row.status !== input.expectStatus) return { ok: false, reason: 'CONFLICT', status: row.status };
    orderChanged(row.id);
    if (input.to === 'REFUNDED') {
      refundInner(row, input.refundEntryId, input.now);
      stmt(`UPDATE orders SET status = 'REFUNDED', refund_message = ?, final_at = ?, updated_at = ? WHERE id = ?`).run(
        input.refundMessage, input.now, input.now, row.id,
      );
    } else {
      stmt(`UPDATE orders SET status = 'FULFILLED', refund_message = NULL, final_at = ?, updated_at = ? WHERE id = ?`).run(
        input.now, input.now, row.id,
      );
    }
    insertAuditRow(input.audit);
    const updated = findOrderRow(row.id);
    return { ok: true, order: toOrder(updated ?? row) };
  });

  const resendTx = db.transaction((input: Parameters<Store['resendOrder']>[0]) => {
    const row = findOrderRow(input.originalId);
    if (!row) return { ok: false as const, reason: 'NOT_FOUND' as const };
    if (row.retry_orderid !== null || !(row.status === 'REFUNDED' || row.env === 'SANDBOX')) {
      return { ok: false as const, reason: 'CONFLICT' as const, status: row.status, retryOrderId: row.retry_orderid };
    }
    const result = insertOrderInner(
      input.order,
      input.order.env === 'PRODUCTION' ? { entryId: input.chargeEntryId, note: `Re-send of ${row.id}` } : null,
    );
    if (!result.ok) return result;
    orderChanged(row.id);
    stmt('UPDATE orders SET retry_orderid = ?, updated_at = ? WHERE id = ?').run(input.order.id, input.order.createdAt, row.id);
    insertAuditRow(input.audit);
    return result;
  });

  const creditWithAuditTx = db.transaction((input: Parameters<Store['creditWithAudit']>[0]) => {
    const balance = balanceOf(input.merchantId);
    if (balance !== undefined && balance + input.amount > input.maxBalance) return { ok: false as const, reason: 'BALANCE_LIMIT' as const, balance };
    const entry = creditTx(input);
    insertAuditRow(input.audit);
    return { ok: true as const, entry };
  });

  const updateKeyTx = db.transaction((id: string, patch: Parameters<Store['updateKey']>[1], audit: AuditRecord) => {
    const sets: string[] = [];
    const args: unknown[] = [];
    if (patch.isEnabled !== undefined) {
      sets.push('is_enabled = ?');
      args.push(patch.isEnabled ? 1 : 0);
    }
    if (patch.allowedIps !== undefined) {
      sets.push('allowed_ips = ?');
      args.push(JSON.stringify(patch.allowedIps));
    }
    if (patch.scope !== undefined) {
      sets.push('scope = ?');
      args.push(patch.scope);
    }
    if (sets.length === 0) return stmt('SELECT 1 FROM api_keys WHERE id = ?').get(id) !== undefined;
    const changed = db.prepare(`UPDATE api_keys SET ${sets.join(', ')} WHERE id = ?`).run(...args, id).changes === 1;
    if (changed) insertAuditRow(audit);
    return changed;
  });

  const rotateKeyTx = db.transaction((oldId: string, replacement: NewKey, now: number, audit: AuditRecord) => {
    const old = stmt('SELECT merchant_id FROM api_keys WHERE id = ?').get(oldId) as { merchant_id: string } | undefined;
    if (!old) return false;
    stmt('UPDATE api_keys SET is_enabled = 0 WHERE id = ?').run(oldId);
    insertKeyRow(old.merchant_id, replacement, now);
    insertAuditRow(audit);
    return true;
  });

  const insertKeyWithAuditTx = db.transaction((merchantId: string, key: NewKey, now: number, audit: AuditRecord) => {
    insertKeyRow(merchantId, key, now);
    insertAuditRow(audit);
  });

  const updatePlanTx = db.transaction((code: string, patch: Parameters<Store['updatePlan']>[1], audit: AuditRecord) => {
    const cols: Record<string, string> = {
      name: 'name', isEnabled: 'is_enabled', costPpm: 'cost_ppm', minAmount: 'min_amount', maxAmount: 'max_amount', amount: 'amount',
    };
    const sets: string[] = [];
    const args: unknown[] = [];
    for (const [k, col] of Object.entries(cols)) {
      const v = (patch as Record<string, unknown>)[k];
      if (v === undefined) continue;
      sets.push(`${col} = ?`);
      args.push(typeof v === 'boolean' ? (v ? 1 : 0) : v);
    }
    if (sets.length > 0) {
      if (db.prepare(`UPDATE plans SET ${sets.join(', ')} WHERE code = ?`).run(...args, code).changes !== 1) return false;
      insertAuditRow(audit);
    }
    return stmt('SELECT 1 FROM plans WHERE code = ?').get(code) !== undefined;
  });

  const upsertCatalogueTx = db.transaction((operators: OperatorRecord[], plans: PlanRecord[]) => {
    for (const o of operators) {
      stmt(`INSERT INTO operators (name, prefixes, health_key) VALUES (?, ?, ?)
            ON CONFLICT(name) DO UPDATE SET prefixes = excluded.prefixes, health_key = excluded.health_key`).run(
        o.name, JSON.stringify(o.prefixes), o.healthKey,
      );
    }
    for (const p of plans) {
      stmt(`INSERT INTO plans (code, name, operator, kind, cost_ppm, is_enabled, min_amount, max_amount, amount, is_menu, position)
            VALUES (@code, @name, @operator, @kind, @costPpm, @isEnabled, @minAmount, @maxAmount, @amount, @isMenu, @position)
            ON CONFLICT(code) DO UPDATE SET name = excluded.name, operator = excluded.operator, kind = excluded.kind,
              cost_ppm = excluded.cost_ppm, is_enabled = excluded.is_enabled, min_amount = excluded.min_amount,
              max_amount = excluded.max_amount, amount = excluded.amount, is_menu = excluded.is_menu, position = excluded.position`).run({
        ...p,
        isEnabled: p.isEnabled ? 1 : 0,
        isMenu: p.isMenu ? 1 : 0,
      });
    }
  });

  const page = <R, T>(
    table: string,
    where: string,
    whereArgs: unknown[],
    timeColumn: string,
    order: string,
    req: PageRequest,
    map: (r: R) => T,
  ): PageResult<T> => {
    const w = windowClause(req, timeColumn);
    const total = (stmt(`SELECT COUNT(*) AS n FROM ${table} WHERE ${where}${w.sql}`).get(...whereArgs, ...w.args) as { n: number }).n;
    const rows = stmt(`SELECT * FROM ${table} WHERE ${where}${w.sql} ORDER BY ${order} LIMIT ? OFFSET ?`).all(
      ...whereArgs, ...w.args, req.limit, req.offset,
    ) as R[];
    return { items: rows.map(map), total };
  };

  /**
   * Orders read by id (check-id, the hot path), kept in memory until they change. This connection's
   * own writes drop the order at once (orderChanged, called by every statement that updates an order);
   * another process's commits (a `shahn worker`, the CLI) are seen through PRAGMA data_version, checked
   * at most every ORDER_CACHE_OTHERS_MS, and empty the whole cache. Bounded: the oldest entry goes first.
   * test/sqlite-order-cache.test.ts covers each writer; the money property test compares cached reads
   * with the table after every step.
   */
  const orderCacheMax = options.orderCacheSize ?? 50_000;
  const orderCache = new Map<string, OrderRecord>();
  const dataVersion = db.prepare('PRAGMA data_version').pluck();
  let seenDataVersion = dataVersion.get() as number;
  let dataVersionCheckedAt = 0;
  const orderChanged = (id: string) => {
    orderCache.delete(id);
  };
  let findByIdStmt: Statement | undefined;
  const findOrderByIdSync = (merchantId: string, env: OrderRecord['env'], id: string): OrderRecord | undefined => {
    if (orderCacheMax > 0) {
      const t = performance.now();
      if (t - dataVersionCheckedAt >= ORDER_CACHE_OTHERS_MS) {
        dataVersionCheckedAt = t;
        const v = dataVersion.get() as number;
        if (v !== seenDataVersion) {
          seenDataVersion = v;
          orderCache.clear();
        }
      }
      const cached = orderCache.get(id);
      if (cached !== undefined) return cached.merchantId === merchantId && cached.env === env ? cached : undefined;
    }
    findByIdStmt ??= stmt(`SELECT ${ORDER_COLUMNS} FROM orders WHERE id = ?`);
    const r = findByIdStmt.get(id) as OrderRow | undefined;
    if (r === undefined) return undefined;
    const order = Object.freeze(toOrder(r));
    if (orderCacheMax > 0) {
      if (orderCache.size >= orderCacheMax) orderCache.delete(orderCache.keys().next().value as string);
      orderCache.set(id, order);
    }
    return order.merchantId === merchantId && order.env === env ? order : undefined;
  };

  const store: Store = {
    kind: 'sqlite',

    async migrate() {
      const from = currentVersion();
      if (from > LATEST_SCHEMA_VERSION) {
        throw new SchemaVersionError(
          `The store's schema is version ${from}, newer than this shahn (${LATEST_SCHEMA_VERSION}). Upgrade shahn.`,
        );
      }
      for (const m of MIGRATIONS) {
        if (m.version <= from) continue;
        db.transaction(() => {
          db.exec(m.sqlite);
          db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, Date.now());
        }).immediate();
      }
      return { from, to: currentVersion() };
    },

    async schemaVersion() {
      return currentVersion();
    },

    async ping() {
      stmt('SELECT 1').get();
    },

    async close() {
      await checkpointer?.stop();
      if (db.open) db.close();
    },

    async createMerchant(input) {
      createMerchantTx.immediate(input);
    },

    async findMerchantByUsername(username) {
      const r = stmt('SELECT id, username, balance, created_at FROM merchants WHERE username = ?').get(username) as MerchantRow | undefined;
      return r && toMerchant(r);
    },

    async findMerchantById(id) {
      const r = stmt('SELECT id, username, balance, created_at FROM merchants WHERE id = ?').get(id) as MerchantRow | undefined;
      return r && toMerchant(r);
    },

    async countMerchants() {
      return (stmt('SELECT COUNT(*) AS n FROM merchants').get() as { n: number }).n;
    },

    async findKeyByHash(keyHash): Promise<KeyRecord | undefined> {
      const r = stmt(`SELECT ${KEY_COLUMNS} FROM api_keys k JOIN merchants m ON m.id = k.merchant_id WHERE k.key_hash = ?`).get(keyHash) as KeyRow | undefined;
      return r && toKey(r);
    },

    async listLedger(merchantId, req) {
      // By the ledger's own order (insertion, rowid), so each entry's oldBalance is the next older entry's newBalance.
      return page<LedgerRow, LedgerEntryRecord>('ledger_entries', 'merchant_id = ?', [merchantId], 'time', 'rowid DESC', req, toLedger);
    },

    async listOperators() {
      const rows = stmt('SELECT name, prefixes, health_key FROM operators ORDER BY name').all() as {
        name: string; prefixes: string; health_key: OperatorRecord['healthKey'];
      }[];
      return rows.map((r) => ({ name: r.name, prefixes: JSON.parse(r.prefixes) as string[], healthKey: r.health_key }));
    },

    async listPlans() {
      return (stmt('SELECT * FROM plans ORDER BY position, code').all() as PlanRow[]).map(toPlan);
    },

    async upsertCatalogue(operators, plans) {
      upsertCatalogueTx.immediate(operators, plans);
    },

    async insertOrder(order, charge) {
      return insertOrderGrouped(order, charge);
    },

    async claimOrders(input) {
      const rows = stmt(`UPDATE orders SET status = 'HANDLING', lease_owner = ?, lease_expires_at = ?, attempts = attempts + 1, updated_at = ?
        WHERE id IN (SELECT id FROM orders WHERE status = 'PENDING' AND env = 'PRODUCTION' AND not_before <= ?
                     ORDER BY not_before, created_at LIMIT ?)
        RETURNING *`).all(input.owner, input.now + input.leaseMs, input.now, input.now, input.limit) as OrderRow[];
      for (const r of rows) orderChanged(r.id);
      return rows.map(toOrder).sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
    },

    async markCallStarted(input) {
      orderChanged(input.orderId);
      return (
        stmt(`UPDATE orders SET call_started_at = ?, updated_at = ?
              WHERE id = ? AND status = 'HANDLING' AND lease_owner = ? AND lease_expires_at > ? AND call_started_at IS NULL`).run(
          input.now, input.now, input.orderId, input.owner, input.now,
        ).changes === 1
      );
    },

    async recordOutcome(input) {
      return recordOutcomeTx.immediate(input);
    },

    async recoverExpiredLeases(input) {
      return recoverTx.immediate(input);
    },

    async findOrderAnywhere(id) {
      const r = findOrderRow(id);
      return r && toOrder(r);
    },

    async listUncertainOrders(req) {
      return page<OrderRow, OrderRecord>('orders', `status = 'UNKNOWN_ERROR'`, [], 'created_at', 'created_at ASC, id ASC', req, toOrder);
    },

    async resolveOrder(input) {
      return resolveTx.immediate(input);
    },

    async resendOrder(input) {
      return resendTx.immediate(input);
    },

    async creditWithAudit(input) {
      return creditWithAuditTx.immediate(input);
    },

    async insertAlertWithAudit(alert, audit) {
      db.transaction(() => {
        insertAlertRow(alert);
        insertAuditRow(audit);
      }).immediate();
    },

    async insertAudit(audit) {
      insertAuditRow(audit);
    },

    async listAudit(req) {
      return req.target === undefined
        ? page<AuditRow, AuditRecord>('audit_log', '1 = 1', [], 'at', 'at DESC, id DESC', req, toAudit)
        : page<AuditRow, AuditRecord>('audit_log', 'target = ?', [req.target], 'at', 'at DESC, id DESC', req, toAudit);
    },

    async dueAlerts(now, limit) {
      return (stmt(`SELECT * FROM alerts WHERE delivered_at IS NULL AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?`).all(now, limit) as AlertRow[]).map(toAlert);
    },

    async claimDueAlerts(now, limit, leaseMs) {
      const rows = stmt(
        `UPDATE alerts SET next_attempt_at = ? WHERE id IN
           (SELECT id FROM alerts WHERE delivered_at IS NULL AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?)
         RETURNING *`,
      ).all(now + leaseMs, now, limit) as AlertRow[];
      return rows.map(toAlert);
    },

    async markAlertDelivered(id, now) {
      stmt('UPDATE alerts SET delivered_at = ?, attempts = attempts + 1, last_error = NULL WHERE id = ?').run(now, id);
    },

    async markAlertFailed(id, nextAttemptAt, error) {
      stmt('UPDATE alerts SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?').run(nextAttemptAt, error.slice(0, 500), id);
    },

    async setAdminEnabled(id, isEnabled, audit) {
      db.transaction(() => {
        stmt('UPDATE admins SET is_enabled = ? WHERE id = ?').run(isEnabled ? 1 : 0, id);
        if (!isEnabled) {
          stmt(`DELETE FROM console_sessions WHERE login_id IN (SELECT id FROM console_logins WHERE role = 'admin' AND subject_id = ?)`).run(id);
        }
        insertAuditRow(audit);
      }).immediate();
    },

    async createAdmin(admin) {
      stmt('INSERT INTO admins (id, name, token_hash, is_enabled, created_at) VALUES (?, ?, ?, ?, ?)').run(
        admin.id, admin.name, admin.tokenHash, admin.isEnabled ? 1 : 0, admin.createdAt,
      );
    },

    async findAdminByTokenHash(tokenHash) {
      const r = stmt('SELECT * FROM admins WHERE token_hash = ?').get(tokenHash) as AdminRow | undefined;
      return r && toAdmin(r);
    },

    async findAdminByName(name) {
      const r = stmt('SELECT * FROM admins WHERE name = ?').get(name) as AdminRow | undefined;
      return r && toAdmin(r);
    },

    async findAdminById(id) {
      const r = stmt('SELECT * FROM admins WHERE id = ?').get(id) as AdminRow | undefined;
      return r && toAdmin(r);
    },

    async listMerchants(req) {
      return page<MerchantRow, MerchantRecord>('merchants', '1 = 1', [], 'created_at', 'created_at ASC, id ASC', req, toMerchant);
    },

    async listKeys(merchantId) {
      return (stmt(`SELECT ${KEY_COLUMNS} FROM api_keys k JOIN merchants m ON m.id = k.merchant_id WHERE k.merchant_id = ? ORDER BY k.created_at, k.id`).all(merchantId) as KeyRow[]).map(toKey);
    },

    async findKeyById(id) {
      const r = stmt(`SELECT ${KEY_COLUMNS} FROM api_keys k JOIN merchants m ON m.id = k.merchant_id WHERE k.id = ?`).get(id) as KeyRow | undefined;
      return r && toKey(r);
    },

    async updateKey(id, patch, audit) {
      return updateKeyTx.immediate(id, patch, audit);
    },

    async rotateKey(oldId, replacement, now, audit) {
      return rotateKeyTx.immediate(oldId, replacement, now, audit);
    },

    async insertKeyWithAudit(merchantId, key, now, audit) {
      insertKeyWithAuditTx.immediate(merchantId, key, now, audit);
    },

    async updatePlan(code, patch, audit) {
      if (!updatePlanTx.immediate(code, patch, audit)) return undefined;
      return (await store.listPlans()).find((p) => p.code === code);
    },

    async recordAuthFailure(input) {
      const r = shared(RECORD_AUTH_FAILURE).get(input.ip, input.now, input.windowMs, input.max, input.blockMs) as { failures: number; blocked_until: number };
      return { failures: r.failures, blockedUntil: r.blocked_until };
    },

    async purgeAuthFailures(now, windowMs) {
      return shared(PURGE_AUTH_FAILURES).run(now - windowMs, now).changes;
    },

    async blockedIps(now) {
      return (stmt('SELECT ip, blocked_until FROM auth_failures WHERE blocked_until > ?').all(now) as { ip: string; blocked_until: number }[]).map((r) => ({
        ip: r.ip,
        blockedUntil: r.blocked_until,
      }));
    },

    async heartbeat(id, now, liveMs) {
      stmt('INSERT INTO api_instances (id, seen_at) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET seen_at = excluded.seen_at').run(id, now);
      stmt('DELETE FROM api_instances WHERE seen_at < ?').run(now - 10 * liveMs);
      return (stmt('SELECT COUNT(*) AS n FROM api_instances WHERE seen_at >= ?').get(now - liveMs) as { n: number }).n;
    },

    async removeInstance(id) {
      stmt('DELETE FROM api_instances WHERE id = ?').run(id);
    },

    async checkMoney() {
      const violations: MoneyViolation[] = [];
      for (const r of stmt(`SELECT m.id, m.balance, COALESCE(SUM(CASE e.operation WHEN 'INCREMENT' THEN e.amount ELSE -e.amount END), 0) AS sum
                            FROM merchants m LEFT JOIN ledger_entries e ON e.merchant_id = m.id GROUP BY m.id
                            HAVING m.balance != sum OR m.balance < 0`).all() as { id: string; balance: number; sum: number }[]) {
        violations.push({ merchantId: r.id, problem: `balance ${r.balance} != sum of entries ${r.sum}` });
      }
      for (const r of stmt(`SELECT o.id, o.status, o.charge,
                              (SELECT COUNT(*) FROM ledger_entries e WHERE e.objid = o.id AND e.type = 'FLEXY' AND e.amount = o.charge) AS charges,
                              (SELECT COUNT(*) FROM ledger_entries e WHERE e.objid = o.id AND e.type = 'FLEXY') AS all_charges,
                              (SELECT COUNT(*) FROM ledger_entries e WHERE e.objid = o.id AND e.type = 'REFUND-FLEXY') AS refunds
                            FROM orders o WHERE o.env = 'PRODUCTION'`).all() as {
        id: string; status: string; charge: number; charges: number; all_charges: number; refunds: number;
      }[]) {
        const wantCharges = r.charge > 0 ? 1 : 0;
        if (r.charges !== wantCharges || r.all_charges !== wantCharges) violations.push({ orderId: r.id, problem: `${r.all_charges} charge entries, expected ${wantCharges}` });
        const wantRefunds = r.status === 'REFUNDED' && r.charge > 0 ? 1 : 0;
        if (r.refunds !== wantRefunds) violations.push({ orderId: r.id, problem: `${r.refunds} refund entries for a ${r.status} order, expected ${wantRefunds}` });
      }
      const sandboxEntries = stmt(`SELECT COUNT(*) AS n FROM ledger_entries e JOIN orders o ON o.id = e.objid WHERE o.env = 'SANDBOX'`).get() as { n: number };
      if (sandboxEntries.n > 0) violations.push({ problem: `${sandboxEntries.n} ledger entries for sandbox orders` });
      return violations;
    },

    async findOrderById(merchantId, env, id) {
      return findOrderByIdSync(merchantId, env, id);
    },

    async findOrderByRef(merchantId, env, ref) {
      const r = stmt(`SELECT ${ORDER_COLUMNS} FROM orders WHERE merchant_id = ? AND env = ? AND ref = ?`).get(merchantId, env, ref) as OrderRow | undefined;
      return r && toOrder(r);
    },

    async listOrders(merchantId, env, req) {
      return page<OrderRow, OrderRecord>('orders', 'merchant_id = ? AND env = ?', [merchantId, env], 'created_at', 'created_at DESC, id DESC', req, toOrder);
    },

    // the web console
    async setConsolePassword(login, audit) {
      db.transaction(() => {
        const existing = stmt('SELECT id FROM console_logins WHERE login = ?').get(login.login) as { id: string } | undefined;
        if (existing) {
          stmt('UPDATE console_logins SET password_hash = ?, updated_at = ? WHERE id = ?').run(login.passwordHash, login.updatedAt, existing.id);
          stmt('DELETE FROM console_sessions WHERE login_id = ?').run(existing.id);
        } else {
          stmt('INSERT INTO console_logins (id, role, login, subject_id, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)').run(
            login.id, login.role, login.login, login.subjectId, login.passwordHash, login.createdAt, login.updatedAt,
          );
        }
        insertAuditRow(audit);
      }).immediate();
    },

    async findConsoleLogin(login) {
      const r = stmt('SELECT * FROM console_logins WHERE login = ?').get(login) as ConsoleLoginRow | undefined;
      return r && toConsoleLogin(r);
    },

    async createConsoleSession(session) {
      stmt('DELETE FROM console_sessions WHERE expires_at <= ?').run(session.createdAt);
      stmt('INSERT INTO console_sessions (token_hash, login_id, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)').run(
        session.tokenHash, session.loginId, session.csrfToken, session.createdAt, session.expiresAt,
      );
    },

    async findConsoleSession(tokenHash, now) {
      const r = stmt(
        `SELECT s.token_hash, s.csrf_token, s.created_at AS s_created_at, s.expires_at, l.*
         FROM console_sessions s JOIN console_logins l ON l.id = s.login_id WHERE s.token_hash = ? AND s.expires_at > ?`,
      ).get(tokenHash, now) as (ConsoleLoginRow & { token_hash: string; csrf_token: string; s_created_at: number; expires_at: number }) | undefined;
      return r && { tokenHash: r.token_hash, csrfToken: r.csrf_token, createdAt: r.s_created_at, expiresAt: r.expires_at, login: toConsoleLogin(r) };
    },

    async deleteConsoleSession(tokenHash) {
      stmt('DELETE FROM console_sessions WHERE token_hash = ?').run(tokenHash);
    },

    async listOrdersFiltered(merchantId, env, filter, req) {
      const where = ['merchant_id = ? AND env = ?'];
      const args: unknown[] = [merchantId, env];
      if (filter.status) {
        where.push(`${visibleStatusSql('?', '?')} = ?`);
        args.push(filter.now, filter.now, filter.now, filter.sandboxUnknownResolveMs, filter.status);
      }
      if (filter.mssidn) {
        where.push('mssidn = ?');
        args.push(filter.mssidn);
      }
      if (filter.ref) {
        where.push('ref = ?');
        args.push(filter.ref);
      }
      return page<OrderRow, OrderRecord>('orders', where.join(' AND '), args, 'created_at', 'created_at DESC, id DESC', req, toOrder);
    },

    async searchOrders(query, limit) {
      const found = new Map<string, OrderRow>();
      const byId = findOrderRow(query);
      if (byId) found.set(byId.id, byId);
      // By ref: one probe of the (merchant, env, ref) unique index per merchant and environment.
      const merchants = stmt('SELECT id FROM merchants').all() as { id: string }[];
      const byRef = stmt(`SELECT ${ORDER_COLUMNS} FROM orders WHERE merchant_id = ? AND env = ? AND ref = ?`);
      for (const m of merchants) {
        for (const env of ['PRODUCTION', 'SANDBOX']) {
          const r = byRef.get(m.id, env, query) as OrderRow | undefined;
          if (r) found.set(r.id, r);
        }
      }
      for (const r of stmt(`SELECT ${ORDER_COLUMNS} FROM orders WHERE mssidn = ? ORDER BY created_at DESC LIMIT ?`).all(query, limit) as OrderRow[]) {
        found.set(r.id, r);
      }
      return [...found.values()].map(toOrder).sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1)).slice(0, limit);
    },

    async orderStats(input) {
      const rows = stmt(
        `SELECT (created_at - ?) / ? AS b, ${visibleStatusSql('?', '?')} AS s, COUNT(*) AS n FROM orders
         WHERE env = ? AND created_at >= ? AND created_at < ?${input.merchantId ? ' AND merchant_id = ?' : ''} GROUP BY b, s ORDER BY b`,
      ).all(
        input.from, input.bucketMs, input.now, input.now, input.now, input.sandboxUnknownResolveMs,
        input.env, input.from, input.to, ...(input.merchantId ? [input.merchantId] : []),
      ) as { b: number; s: OrderRecord['status']; n: number }[];
      return rows.map((r) => ({ bucket: input.from + r.b * input.bucketMs, status: r.s, count: r.n }));
    },

    async outcomeStats(input) {
      const rows = stmt(
        `SELECT (final_at - ?) / ? AS b, status AS s, COUNT(*) AS n FROM orders
         WHERE final_at >= ? AND final_at < ? AND env = 'PRODUCTION' GROUP BY b, s ORDER BY b`,
      ).all(input.from, input.bucketMs, input.from, input.to) as { b: number; s: OrderRecord['status']; n: number }[];
      return rows.map((r) => ({ bucket: input.from + r.b * input.bucketMs, status: r.s, count: r.n }));
    },

    async countOpenOrders() {
      const pending = stmt(`SELECT COUNT(*) AS n FROM orders WHERE status = 'PENDING' AND env = 'PRODUCTION'`).get() as { n: number };
      const handling = stmt(`SELECT COUNT(*) AS n FROM orders WHERE status = 'HANDLING'`).get() as { n: number };
      return { PENDING: pending.n, HANDLING: handling.n };
    },

    async timesToFinal(input) {
      const rows = stmt(
        `SELECT final_at - created_at AS d FROM orders WHERE env = 'PRODUCTION' AND final_at >= ? AND final_at < ?${input.merchantId ? ' AND merchant_id = ?' : ''}
         ORDER BY final_at DESC LIMIT ?`,
      ).all(input.from, input.to, ...(input.merchantId ? [input.merchantId] : []), input.limit) as { d: number }[];
      return rows.map((r) => r.d);
    },
  };
  syncReads.set(store, { findOrderById: findOrderByIdSync });
  return store;
}
