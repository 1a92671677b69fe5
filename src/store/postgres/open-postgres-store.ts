/**
 * The PostgreSQL store, for many API and worker processes on many machines: the same operations as
 * SQLite (sql/make-sql-store.ts), each statement a named prepared statement, a transaction on one
 * pooled connection with an await per statement. Money moves under the merchant's row lock; claims use
 * FOR UPDATE SKIP LOCKED. A database that cannot be reached or used surfaces as StoreUnavailableError
 * (503), never as a half-written change.
 */
import pg from 'pg';
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from '../migrations.js';
import { SchemaVersionError, StoreUnavailableError, type Store } from '../store.js';
import { runAsync, type Effect, type Op, type SqlDb } from '../sql.js';
import { makeSqlStore } from '../sql/make-sql-store.js';

export interface PostgresStoreOptions {
  /** Connections per process (default 10). */
  poolSize?: number;
  /** Per statement, enforced by the server (default 5000 ms). */
  statementTimeoutMs?: number;
  /** Waiting for a connection (default 10000 ms). */
  connectTimeoutMs?: number;
}

/**
 * SQLSTATEs and socket errors that mean "the database cannot be reached or used right now" (503):
 * class 08 connection exception, 53 insufficient resources (too many connections, disk full),
 * 57 operator intervention (shutdown, crash, cannot connect now, statement timeout), 58 system error,
 * 28 the login was refused, 3D000 the database does not exist (renamed, dropped), 25006 a read-only
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

const unavailable = (err: unknown) => new StoreUnavailableError(`the database is unavailable: ${(err as Error).message}`);

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

// BIGINT columns hold milliseconds and centimes, far below 2^53: read them as numbers (this pool only).
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format))) as typeof pg.types.getTypeParser,
};

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
    types,
  });
  // An idle client losing its connection must not crash the process.
  pool.on('error', () => undefined);

  /** Each distinct text is a named prepared statement: parsed and planned once per connection. */
  const names = new Map<string, string>();
  const named = (text: string) => {
    let name = names.get(text);
    if (name === undefined) {
      name = `shahn_${names.size + 1}`;
      names.set(text, name);
    }
    return name;
  };
  const execOn = (c: pg.PoolClient) => async (e: Effect): Promise<unknown> => {
    if (e.kind === 'changed' || e.kind === 'clockChanged') return undefined;
    const r = await c.query({ name: named(e.text), text: e.text, values: e.args as unknown[] });
    return e.kind === 'all' ? r.rows : e.kind === 'one' ? r.rows[0] : r.rowCount ?? 0;
  };

  /** A pooled connection for `fn`; any failure to get one means the database cannot be used (503). A broken one is discarded. */
  const withClient = async <T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> => {
    let c: pg.PoolClient;
    try {
      c = await pool.connect();
    } catch (err) {
      throw unavailable(err);
    }
    let failed: unknown;
    try {
      return await fn(c);
    } catch (err) {
      failed = err;
      throw isUnavailable(err) ? unavailable(err) : err;
    } finally {
      c.release(failed !== undefined && isUnavailable(failed) ? (failed as Error) : undefined);
    }
  };
  const transaction = <T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> =>
    withClient(async (c) => {
      await c.query('BEGIN');
      try {
        const result = await fn(c);
        await c.query('COMMIT');
        return result;
      } catch (err) {
        await c.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });

  const currentVersion = async (c: pg.PoolClient): Promise<number> => {
    const exists = (await c.query<{ t: string | null }>(`SELECT to_regclass('schema_migrations')::text AS t`)).rows[0];
    if (!exists?.t) return 0;
    return (await c.query<{ v: number }>('SELECT COALESCE(MAX(version), 0)::int AS v FROM schema_migrations')).rows[0]?.v ?? 0;
  };

  const db: SqlDb = {
    kind: 'postgres',
    dialect: { ledgerSeq: 'seq', ledgerAudit: 'join' },
    exec: (op) => withClient((c) => runAsync(op, execOn(c))),
    transaction: <T>(make: () => Op<T>) => transaction((c) => runAsync(make(), execOn(c))),
    transactionGrouped: <T>(make: () => Op<T>) => transaction((c) => runAsync(make(), execOn(c))),
    migrate: () =>
      transaction(async (c) => {
        // One migrator at a time, across processes.
        await c.query('SELECT pg_advisory_xact_lock(7434561)');
        await c.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
        const from = await currentVersion(c);
        if (from > LATEST_SCHEMA_VERSION) throw new SchemaVersionError(`The store's schema is version ${from}, newer than this shahn (${LATEST_SCHEMA_VERSION}). Upgrade shahn.`);
        for (const m of MIGRATIONS) {
          if (m.version <= from) continue;
          await c.query(m.postgres);
          await c.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, Date.now()]);
        }
        return { from, to: await currentVersion(c) };
      }),
    schemaVersion: () => withClient(currentVersion),
    ping: () => withClient(async (c) => void (await c.query('SELECT 1'))),
    close: () => pool.end(),
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
  };
  return makeSqlStore(db);
}
