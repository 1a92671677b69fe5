/**
 * The embedded store: one SQLite file (better-sqlite3 12, WAL mode). better-sqlite3 is synchronous,
 * so every transaction here runs without interleaving inside this process; BEGIN IMMEDIATE and a
 * busy timeout serialise writers across processes (a CLI next to `shahn serve`).
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Database as Db, Statement } from 'better-sqlite3';
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from '../migrations.js';
import { ACCOUNTS } from '../store.js';
import type {
  Env,
  InsertOrderResult,
  KeyRecord,
  LedgerEntryRecord,
  NewKey,
  OperatorRecord,
  OrderRecord,
  PageRequest,
  PageResult,
  PlanRecord,
  Store,
} from '../store.js';

export class SchemaVersionError extends Error {}

export interface SqliteStoreOptions {
  /** Milliseconds a writer waits for another process's lock. */
  busyTimeoutMs?: number;
}

interface OrderRow {
  id: string;
  merchant_id: string;
  env: Env;
  ref: string;
  status: OrderRecord['status'];
  plan_code: string;
  mssidn: string;
  topup_amount: number;
  charge: number;
  created_at: number;
  updated_at: number;
  refund_message: string | null;
  suggested_offers: string | null;
  follow_orderid: string | null;
  retry_orderid: string | null;
  sandbox_scenario: OrderRecord['sandboxScenario'];
}

interface LedgerRow {
  id: string;
  merchant_id: string;
  type: LedgerEntryRecord['type'];
  operation: LedgerEntryRecord['operation'];
  amount: number;
  old_balance: number;
  new_balance: number;
  objid: string;
  note: string;
  time: number;
  counter_account: string;
}

function toOrder(r: OrderRow): OrderRecord {
  return {
    id: r.id,
    merchantId: r.merchant_id,
    env: r.env,
    ref: r.ref,
    status: r.status,
    planCode: r.plan_code,
    mssidn: r.mssidn,
    topupAmount: r.topup_amount,
    charge: r.charge,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    refundMessage: r.refund_message,
    suggestedOffers: r.suggested_offers === null ? null : (JSON.parse(r.suggested_offers) as OrderRecord['suggestedOffers']),
    followOrderId: r.follow_orderid,
    retryOrderId: r.retry_orderid,
    sandboxScenario: r.sandbox_scenario,
  };
}

function toLedger(r: LedgerRow): LedgerEntryRecord {
  return {
    id: r.id,
    merchantId: r.merchant_id,
    type: r.type,
    operation: r.operation,
    amount: r.amount,
    oldBalance: r.old_balance,
    newBalance: r.new_balance,
    objid: r.objid,
    note: r.note,
    time: r.time,
    counterAccount: r.counter_account,
  };
}

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

export function openSqliteStore(path: string, options: SqliteStoreOptions = {}): Store {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db: Db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);

  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`);

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

  const creditTx = db.transaction((input: Parameters<Store['credit']>[0]): LedgerEntryRecord => {
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

  const insertOrderTx = db.transaction(
    (order: OrderRecord, charge: { entryId: string; note: string } | null): InsertOrderResult => {
      const existing = stmt('SELECT id FROM orders WHERE merchant_id = ? AND env = ? AND ref = ?').get(
        order.merchantId, order.env, order.ref,
      ) as { id: string } | undefined;
      if (existing) return { ok: false, reason: 'DUPLICATED_REF', existingId: existing.id };
      if (charge !== null && order.charge > 0) {
        const available = balanceOf(order.merchantId) ?? 0;
        if (available < order.charge) return { ok: false, reason: 'INSUFFICIENT_BALANCE', available };
        stmt(insertOrderSql).run({
          ...order,
          suggestedOffers: order.suggestedOffers === null ? null : JSON.stringify(order.suggestedOffers),
        });
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
        return { ok: true };
      }
      stmt(insertOrderSql).run({
        ...order,
        suggestedOffers: order.suggestedOffers === null ? null : JSON.stringify(order.suggestedOffers),
      });
      return { ok: true };
    },
  );

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
      if (db.open) db.close();
    },

    async createMerchant(input) {
      createMerchantTx.immediate(input);
    },

    async findMerchantByUsername(username) {
      const r = stmt('SELECT id, username, balance, created_at FROM merchants WHERE username = ?').get(username) as
        | { id: string; username: string; balance: number; created_at: number }
        | undefined;
      return r && { id: r.id, username: r.username, balance: r.balance, createdAt: r.created_at };
    },

    async findMerchantById(id) {
      const r = stmt('SELECT id, username, balance, created_at FROM merchants WHERE id = ?').get(id) as
        | { id: string; username: string; balance: number; created_at: number }
        | undefined;
      return r && { id: r.id, username: r.username, balance: r.balance, createdAt: r.created_at };
    },

    async countMerchants() {
      return (stmt('SELECT COUNT(*) AS n FROM merchants').get() as { n: number }).n;
    },

    async insertKey(merchantId, key, now) {
      insertKeyRow(merchantId, key, now);
    },

    async findKeyByHash(keyHash): Promise<KeyRecord | undefined> {
      const r = stmt(`SELECT k.id, k.merchant_id, m.username, k.key_hash, k.type, k.scope, k.is_enabled, k.allowed_ips, k.created_at
                      FROM api_keys k JOIN merchants m ON m.id = k.merchant_id WHERE k.key_hash = ?`).get(keyHash) as
        | {
            id: string; merchant_id: string; username: string; key_hash: string; type: KeyRecord['type'];
            scope: KeyRecord['scope']; is_enabled: number; allowed_ips: string; created_at: number;
          }
        | undefined;
      if (!r) return undefined;
      return {
        id: r.id,
        merchantId: r.merchant_id,
        username: r.username,
        keyHash: r.key_hash,
        type: r.type,
        scope: r.scope,
        isEnabled: r.is_enabled === 1,
        allowedIps: JSON.parse(r.allowed_ips) as string[],
        createdAt: r.created_at,
      };
    },

    async credit(input) {
      return creditTx.immediate(input);
    },

    async listLedger(merchantId, req) {
      return page<LedgerRow, LedgerEntryRecord>('ledger_entries', 'merchant_id = ?', [merchantId], 'time', 'time DESC, id DESC', req, toLedger);
    },

    async listOperators() {
      const rows = stmt('SELECT name, prefixes, health_key FROM operators ORDER BY name').all() as {
        name: string; prefixes: string; health_key: OperatorRecord['healthKey'];
      }[];
      return rows.map((r) => ({ name: r.name, prefixes: JSON.parse(r.prefixes) as string[], healthKey: r.health_key }));
    },

    async listPlans() {
      const rows = stmt('SELECT * FROM plans ORDER BY position, code').all() as {
        code: string; name: string; operator: string; kind: PlanRecord['kind']; cost_ppm: number | null; is_enabled: number;
        min_amount: number | null; max_amount: number | null; amount: number | null; is_menu: number; position: number;
      }[];
      return rows.map((r) => ({
        code: r.code,
        name: r.name,
        operator: r.operator,
        kind: r.kind,
        costPpm: r.cost_ppm,
        isEnabled: r.is_enabled === 1,
        minAmount: r.min_amount,
        maxAmount: r.max_amount,
        amount: r.amount,
        isMenu: r.is_menu === 1,
        position: r.position,
      }));
    },

    async upsertCatalogue(operators, plans) {
      upsertCatalogueTx.immediate(operators, plans);
    },

    async insertOrder(order, charge) {
      return insertOrderTx.immediate(order, charge);
    },

    async findOrderById(merchantId, env, id) {
      const r = stmt('SELECT * FROM orders WHERE id = ? AND merchant_id = ? AND env = ?').get(id, merchantId, env) as OrderRow | undefined;
      return r && toOrder(r);
    },

    async findOrderByRef(merchantId, env, ref) {
      const r = stmt('SELECT * FROM orders WHERE merchant_id = ? AND env = ? AND ref = ?').get(merchantId, env, ref) as OrderRow | undefined;
      return r && toOrder(r);
    },

    async listOrders(merchantId, env, req) {
      return page<OrderRow, OrderRecord>('orders', 'merchant_id = ? AND env = ?', [merchantId, env], 'created_at', 'created_at DESC, id DESC', req, toOrder);
    },
  };
  return store;
}
