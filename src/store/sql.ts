/**
 * The seam between the store's logic and its two databases. A store operation is written once, as a
 * generator that yields the statements it needs (`yield* one(...)`) and gets their results back:
 * SQLite runs it synchronously inside its transaction (so a group commit and the check-id hot path's
 * synchronous read stay possible), PostgreSQL runs it with an await per statement on one connection.
 * The SQL text is PostgreSQL's (`$n` placeholders, casts, `FOR UPDATE`); sql-text.ts rewrites it for
 * SQLite once per statement.
 */

export type Effect =
  | { readonly kind: 'all' | 'one' | 'run'; readonly text: string; readonly args: readonly unknown[] }
  /** An order's row changed in this transaction (SQLite drops it from its read cache). */
  | { readonly kind: 'changed'; readonly orderId: string }
  /** A merchant's sandbox clock changed in this transaction (SQLite drops its cached offset). */
  | { readonly kind: 'clockChanged'; readonly merchantId: string };

/** A store operation: yields statements, gets their results, returns T. */
export type Op<T> = Generator<Effect, T, unknown>;

/** Every row of a query. */
export function* all<R>(text: string, args: readonly unknown[] = []): Op<R[]> {
  return (yield { kind: 'all', text, args }) as R[];
}

/** The first row of a query, or undefined. */
export function* one<R>(text: string, args: readonly unknown[] = []): Op<R | undefined> {
  return (yield { kind: 'one', text, args }) as R | undefined;
}

/** A statement without RETURNING; how many rows it changed. */
export function* run(text: string, args: readonly unknown[] = []): Op<number> {
  return (yield { kind: 'run', text, args }) as number;
}

/** Say that an order's row changes in this transaction (before the UPDATE). */
export function* changed(orderId: string): Op<void> {
  yield { kind: 'changed', orderId };
}

/** Say that a merchant's sandbox clock offset changes in this transaction. */
export function* clockChanged(merchantId: string): Op<void> {
  yield { kind: 'clockChanged', merchantId };
}

/** Run an operation to its end with a synchronous executor. */
export function runSync<T>(op: Op<T>, exec: (e: Effect) => unknown): T {
  let step = op.next();
  while (!step.done) {
    let result: unknown;
    try {
      result = exec(step.value);
    } catch (err) {
      op.return(undefined as T);
      throw err;
    }
    step = op.next(result);
  }
  return step.value;
}

/** Run an operation to its end with an asynchronous executor (one statement at a time). */
export async function runAsync<T>(op: Op<T>, exec: (e: Effect) => Promise<unknown> | unknown): Promise<T> {
  let step = op.next();
  while (!step.done) {
    let result: unknown;
    try {
      result = await exec(step.value);
    } catch (err) {
      op.return(undefined as T);
      throw err;
    }
    step = op.next(result);
  }
  return step.value;
}

/**
 * What the two databases do differently, beyond what the SQL rewrite covers: the column that orders
 * a merchant's ledger entries as they were written (PostgreSQL's `seq`, SQLite's `rowid`), and how the
 * ledger audit counts each order's entries (ledger.ts, checkMoney).
 */
export interface Dialect {
  readonly ledgerSeq: string;
  /**
   * `probe`: three index lookups per order (SQLite: its joins are nested loops, and only the partial
   * indexes on an entry's order, one per entry type, serve a lookup by order; memory stays flat).
   * `join`: orders joined to their entries (PostgreSQL: a hash join; a lookup per order would be a
   * subplan per row, six times slower).
   */
  readonly ledgerAudit: 'probe' | 'join';
}

/** A database the store runs its operations on (sqlite/sqlite-db.ts, postgres/postgres-db.ts). */
export interface SqlDb {
  readonly kind: 'sqlite' | 'postgres';
  readonly dialect: Dialect;
  /**
   * Run an operation's statements one by one outside a transaction, each committing on its own: for
   * reads, and for writes of a single statement (which is atomic by itself).
   */
  exec<T>(op: Op<T>): Promise<T>;
  /** Run an operation in one write transaction; `make` may be called again to redo it. */
  transaction<T>(make: () => Op<T>): Promise<T>;
  /**
   * A transaction that may share its commit with the other grouped transactions of the same
   * event-loop turn (SQLite's group commit; each caller is answered after the commit). PostgreSQL:
   * transaction().
   */
  transactionGrouped<T>(make: () => Op<T>): Promise<T>;
  migrate(): Promise<{ from: number; to: number }>;
  schemaVersion(): Promise<number>;
  ping(): Promise<void>;
  close(): Promise<void>;
  /** PostgreSQL: the pool's connections (open, idle) and the requests waiting for one. */
  poolStats?(): { total: number; idle: number; waiting: number };
}
