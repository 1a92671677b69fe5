/**
 * The embedded store: one SQLite file (better-sqlite3 12, WAL mode). better-sqlite3 is synchronous, so
 * an operation runs to its end inside its transaction without interleaving in this process;
 * BEGIN IMMEDIATE and a busy timeout serialise writers across processes (a CLI next to `shahn serve`).
 * What is SQLite's own here: the group commit of sends, orders read by id kept in memory until they
 * change, WAL checkpoints on a worker thread, and the migrations' SQLite text.
 */
import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Database as Db, Statement } from 'better-sqlite3';
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from '../migrations.js';
import { startBackgroundCheckpoint, type BackgroundCheckpoint } from './background-checkpoint.js';
import { SchemaVersionError, StoreOpenError, type OrderRecord, type Store, type SyncOrderReads } from '../store.js';
import { toOrder, type OrderRow } from '../rows.js';
import { runSync, type Effect, type Op, type SqlDb } from '../sql.js';
import { bindSlots, toSqlite } from '../sql-text.js';
import { makeSqlStore } from '../sql/make-sql-store.js';
import { ORDER_BY_ID } from '../sql/orders.js';
import { SANDBOX_OFFSET } from '../sql/sandbox-clocks.js';

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
/**
 * Background WAL checkpoints (background-checkpoint.ts): how often, and the WAL's bound in pages (≈ 64 MiB).
 * The bound is where the writing connection finishes a checkpoint itself (on the event loop) so that
 * SQLite can start the WAL over; under a steady stream of sends that happens about once per bound.
 * Customers' numbers are spread, so each send also updates a different page of the orders-by-number
 * index and a commit writes many pages: the bound is large enough for that stall to come less than
 * once in a hundred 64-send commits (p99 of such a commit 10–12 ms in the store alone, against 32–35 ms
 * with a 4,000-page bound), at the price of a longer stall when it comes (57–77 ms) and a larger WAL file.
 */
const CHECKPOINT_EVERY_MS = 50;
const WAL_BOUND_PAGES = 16_000;

/** Why a SQLite file cannot be opened, in words a person can act on. */
function openProblem(path: string, err: unknown): StoreOpenError {
  const code = (err as { code?: string }).code;
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    /* it does not exist */
  }
  let why = (err as Error).message;
  let fix = 'Set SHAHN_DB (or --db) to a file path in a folder this user can write, such as ./data/shahn.db.';
  if (isDir) {
    why = 'it is a folder, not a file';
    fix = `Give a file path inside it, such as ${path.replace(/\/+$/, '')}/shahn.db.`;
  } else if (code === 'EEXIST' || code === 'ENOTDIR') why = 'a part of the path is a file, not a folder';
  else if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS' || code === 'SQLITE_READONLY') why = 'this user may not write there';
  else if (code === 'SQLITE_NOTADB') [why, fix] = ['the file is not a SQLite database', 'Point SHAHN_DB at a shahn store, or at a path where a new one may be created.'];
  else if (code === 'SQLITE_CORRUPT') [why, fix] = ['the database file is damaged', 'Restore it from a backup.'];
  return new StoreOpenError(`Cannot open the SQLite store at "${path}": ${why}. ${fix}`);
}

function openDatabase(path: string, options: SqliteStoreOptions): Db {
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
    // Reads are the hot path: map the file (no read() per page) and keep more pages cached.
    db.pragma('mmap_size = 268435456');
    db.pragma('cache_size = -65536');
    if (options.maxPageCount !== undefined) db.pragma(`max_page_count = ${options.maxPageCount}`);
    // Savepoints (the fallback of the group commit) keep their statement journal in memory, not in a temp file.
    db.pragma('temp_store = MEMORY');
    db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    return db;
  } catch (err) {
    throw openProblem(path, err);
  }
}

export function openSqliteStore(path: string, options: SqliteStoreOptions = {}): Store {
  const db = openDatabase(path, options);

  // Statements: the shared SQL text rewritten for SQLite and prepared once (the tables exist only after migrate()).
  const prepared = new Map<string, { stmt: Statement; slots: number[] | null }>();
  const prepare = (text: string) => {
    let p = prepared.get(text);
    if (!p) {
      const { sql, slots } = toSqlite(text);
      // Most statements use $1…$n once each, in order: their arguments bind as they are.
      const inOrder = slots.every((slot, i) => slot === i);
      p = { stmt: db.prepare(sql), slots: inOrder ? null : slots };
      prepared.set(text, p);
    }
    return p;
  };
  const execEffect = (e: Effect): unknown => {
    if (e.kind === 'changed') {
      orderCache.delete(e.orderId);
      return undefined;
    }
    if (e.kind === 'clockChanged') {
      offsetCache.delete(e.merchantId);
      return undefined;
    }
    const { stmt, slots } = prepare(e.text);
    const args = slots === null ? e.args : bindSlots(slots, e.args);
    if (e.kind === 'all') return stmt.all(...args);
    if (e.kind === 'one') return stmt.get(...args);
    return stmt.run(...args).changes;
  };
  const runOp = <T>(op: Op<T>): T => runSync(op, execEffect);
  const transactionSync = <T>(make: () => Op<T>): T => db.transaction(() => runOp(make())).immediate();

  /**
   * Orders read by id (check-id, the hot path) and merchants' sandbox clock offsets (read by every
   * reading of a sandbox order: check-id, check-ref, list, the console, a sandbox send), kept in memory until they change. This connection's own writes drop
   * an entry at once (the `changed` and `clockChanged` effects the operations that update an order or
   * a clock yield); another process's commits (a second API process, a `shahn worker`, the CLI) are
   * seen through PRAGMA data_version, checked at most every ORDER_CACHE_OTHERS_MS, and empty both
   * caches. Bounded: the oldest entry goes first.
   */
  const orderCacheMax = options.orderCacheSize ?? 50_000;
  const orderCache = new Map<string, OrderRecord>();
  const offsetCache = new Map<string, number>();
  const dataVersion = db.prepare('PRAGMA data_version').pluck();
  let seenDataVersion = dataVersion.get() as number;
  let dataVersionCheckedAt = 0;
  const dropIfOthersCommitted = () => {
    const t = performance.now();
    if (t - dataVersionCheckedAt < ORDER_CACHE_OTHERS_MS) return;
    dataVersionCheckedAt = t;
    const v = dataVersion.get() as number;
    if (v !== seenDataVersion) {
      seenDataVersion = v;
      orderCache.clear();
      offsetCache.clear();
    }
  };
  const syncReads: SyncOrderReads = {
    findOrderById(merchantId, env, id) {
      if (orderCacheMax > 0) {
        dropIfOthersCommitted();
        const cached = orderCache.get(id);
        if (cached !== undefined) return cached.merchantId === merchantId && cached.env === env ? cached : undefined;
      }
      const r = prepare(ORDER_BY_ID).stmt.get(id) as OrderRow | undefined;
      if (r === undefined) return undefined;
      const order = Object.freeze(toOrder(r));
      if (orderCacheMax > 0) {
        if (orderCache.size >= orderCacheMax) orderCache.delete(orderCache.keys().next().value as string);
        orderCache.set(id, order);
      }
      return order.merchantId === merchantId && order.env === env ? order : undefined;
    },
    sandboxOffset(merchantId) {
      if (orderCacheMax > 0) {
        dropIfOthersCommitted();
        const cached = offsetCache.get(merchantId);
        if (cached !== undefined) return cached;
      }
      const r = prepare(SANDBOX_OFFSET).stmt.get(merchantId) as { offset_ms: number } | undefined;
      const offset = r?.offset_ms ?? 0;
      if (orderCacheMax > 0) {
        if (offsetCache.size >= orderCacheMax) offsetCache.delete(offsetCache.keys().next().value as string);
        offsetCache.set(merchantId, offset);
      }
      return offset;
    },
  };

  /**
   * Group commit: the grouped transactions (sends) of one turn of the event loop are written in one
   * BEGIN IMMEDIATE … COMMIT, and each caller is answered only after the commit. A commit is most of
   * a send's cost; sharing it lets sends scale with load.
   *
   * One refused or failing operation never affects another. A refusal (DUPLICATED_REF,
   * INSUFFICIENT_BALANCE) is decided before its operation writes anything. An operation that throws
   * part-way (a constraint, a trigger) would leave its first writes in the shared transaction, so then
   * the whole batch is rolled back (nothing of it was committed) and written again with each operation
   * in its own savepoint. The savepoints are kept off the common path: each costs a copy of every page
   * the operation touches (the statement journal). An error that rolls back the whole transaction (a
   * full disk, an I/O error) fails the batch as a whole, before a later operation could commit alone.
   */
  type Pending = { make: () => Op<unknown>; resolve: (r: unknown) => void; reject: (e: unknown) => void };
  type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };
  class OpFailed extends Error {
    constructor(readonly opError: unknown) {
      super('an operation of the batch failed');
    }
  }
  const writeBatchShared = db.transaction((items: Pending[]): Outcome[] =>
    items.map((it) => {
      try {
        return { ok: true, value: runOp(it.make()) };
      } catch (error) {
        throw new OpFailed(error);
      }
    }),
  );
  const inSavepoint = db.transaction((make: () => Op<unknown>) => runOp(make()));
  const writeBatchIsolated = db.transaction((items: Pending[]): Outcome[] =>
    items.map((it) => {
      try {
        return { ok: true, value: inSavepoint(it.make) };
      } catch (error) {
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
        if (!(error instanceof OpFailed)) throw error; // BEGIN or COMMIT failed: nothing was written
        results = items.length === 1 ? [{ ok: false, error: error.opError }] : writeBatchIsolated.immediate(items);
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

  /** A synchronous result (or throw) as a promise. */
  const settle = <T>(fn: () => T): Promise<T> => {
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(err as Error);
    }
  };
  const currentVersion = (): number => (db.prepare('SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations').get() as { v: number }).v;

  const sqlDb: SqlDb = {
    kind: 'sqlite',
    dialect: { ledgerSeq: 'rowid', ledgerAudit: 'probe' },
    exec: (op) => settle(() => runOp(op)),
    transaction: (make) => settle(() => transactionSync(make)),
    transactionGrouped: <T>(make: () => Op<T>) =>
      new Promise<T>((resolve, reject) => {
        if (!batch) {
          batch = [];
          setImmediate(flushBatch);
        }
        batch.push({ make, resolve: resolve as (r: unknown) => void, reject });
      }),
    async migrate() {
      const from = currentVersion();
      if (from > LATEST_SCHEMA_VERSION) throw new SchemaVersionError(`The store's schema is version ${from}, newer than this shahn (${LATEST_SCHEMA_VERSION}). Upgrade shahn.`);
      for (const m of MIGRATIONS) {
        if (m.version <= from) continue;
        db.transaction(() => {
          db.exec(m.sqlite);
          db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, Date.now());
        }).immediate();
      }
      prepared.clear();
      return { from, to: currentVersion() };
    },
    schemaVersion: async () => currentVersion(),
    ping: () => settle(() => void db.prepare('SELECT 1').get()),
    async close() {
      await checkpointer?.stop();
      if (db.open) db.close();
    },
  };
  return makeSqlStore(sqlDb, { syncReads });
}
