/**
 * Test helpers: a real SQLite file in a temp folder, a test clock, and the app driven by inject().
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadConfig, type Config } from '../src/config.js';
import { createMerchant, type CreatedMerchant } from '../src/domain/create-merchant.js';
import type { Deps } from '../src/domain/deps.js';
import { StaticGatewayHealth } from '../src/gateways/gateway.js';
import { buildDeps } from '../src/runtime/build-deps.js';
import { prepareStore } from '../src/runtime/open-store.js';
import { TestClock } from '../src/lib/clock.js';
import { hashApiKey, newApiKey, newObjectId } from '../src/lib/ids.js';
import { auditRecord } from '../src/support/audit.js';
import { buildApp, type ShahnApp } from '../src/server/build-app.js';
import { openSqliteStore } from '../src/store/sqlite/open-sqlite-store.js';
import { openPostgresStore } from '../src/store/postgres/open-postgres-store.js';
import type { Store } from '../src/store/store.js';
import Database from 'better-sqlite3';
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { createServer as createNetServer } from 'node:net';
import { inject } from 'vitest';
import { pgUrlFor, TEST_PG_URL } from './pg-names.js';

/** Which store the suites run on: `sqlite` (default) or `postgres` (the vitest project sets it). */
export const TEST_STORE = process.env.SHAHN_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';
export { TEST_PG_URL };
/** This run's migrated template database, which the PostgreSQL suites clone (made once by test/pg-global-setup.ts). */
const pgRun = () => inject('pgRun');

/** A fresh, migrated store of the suite's kind: a temp SQLite file, or a database cloned from the template. */
export async function freshStore(dir: string): Promise<{ store: Store; db: string; sql: RawSql; drop(): Promise<void> }> {
  if (TEST_STORE === 'sqlite') {
    const path = join(dir, 'shahn.db');
    const store = openSqliteStore(path);
    await prepareStore(store);
    const raw = new Database(path);
    return {
      store,
      db: path,
      sql: {
        async all(text, params = []) {
          return raw.prepare(text).all(...params) as Record<string, unknown>[];
        },
        async run(text, params = []) {
          raw.prepare(text).run(...params);
        },
      },
      async drop() {
        raw.close();
      },
    };
  }
  const name = await nextClone();
  const url = pgUrlFor(name);
  const store = openPostgresStore(url, { poolSize: 4 });
  // A pool (of one) so that the raw connection comes back after a test terminates the database's backends.
  const raw = new pg.Pool({ connectionString: url, max: 1 });
  raw.on('error', () => undefined);
  const toPg = (text: string) => {
    let i = 0;
    return text.replace(/\?/g, () => `$${++i}`);
  };
  return {
    store,
    db: url,
    sql: {
      async all(text, params = []) {
        return (await raw.query(toPg(text), params)).rows as Record<string, unknown>[];
      },
      async run(text, params = []) {
        await raw.query(toPg(text), params);
      },
    },
    async drop() {
      await raw.end();
      // Dropped in the background (the run's global teardown drops whatever is left).
      void pgAdmin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
    },
  };
}

/** One statement on the server's maintenance connection. */
async function pgAdmin(sql: string): Promise<void> {
  const a = new pg.Client({ connectionString: TEST_PG_URL });
  await a.connect();
  try {
    await a.query(sql);
  } finally {
    await a.end();
  }
}

/**
 * The next clone of this run's template. One is always being made ahead, so a test context rarely
 * waits for CREATE DATABASE.
 */
let ahead: Promise<string> | undefined;
function makeClone(): Promise<string> {
  const name = `shahn_t_${pgRun()}_${randomBytes(6).toString('hex')}`;
  return pgAdmin(`CREATE DATABASE ${name} TEMPLATE shahn_tpl_${pgRun()}`).then(() => name);
}
async function nextClone(): Promise<string> {
  const mine = ahead ?? makeClone();
  ahead = mine.then(makeClone, makeClone);
  ahead.catch(() => undefined);
  return mine;
}

/**
 * A migrated, empty store for child processes (`shahn serve`, `shahn worker`, the CLI, scripts): a
 * SQLite file in `dir`, or a PostgreSQL database cloned from this run's template. `drop()` removes it.
 */
export async function freshDatabase(dir = tempDir()): Promise<{ db: string; sql: RawSql; drop(): Promise<void> }> {
  const fresh = await freshStore(dir);
  await fresh.store.close();
  return { db: fresh.db, sql: fresh.sql, drop: () => fresh.drop() };
}

/** The contract's sandbox timeline shortened (PENDING 0.5 s, HANDLING until 1 s) for tests that run `shahn serve` in real time. */
export const QUICK_SANDBOX = { SHAHN_SANDBOX_PENDING_MS: '500', SHAHN_SANDBOX_FINAL_MS: '1000' } as const;

/** Raw SQL on the test store, with `?` placeholders (for tests that must go around the code). */
export interface RawSql {
  all(text: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  run(text: string, params?: unknown[]): Promise<void>;
}

export interface TestContext {
  app: ShahnApp;
  deps: Deps;
  clock: TestClock;
  health: StaticGatewayHealth;
  config: Config;
  dir: string;
  /** The SQLite file or the PostgreSQL URL. */
  db: string;
  sql: RawSql;
  merchant: CreatedMerchant;
  /** The app's JSON log lines (parsed), when made with `captureLogs`. */
  logs: Record<string, unknown>[];
  close(): Promise<void>;
}

export function tempDir(prefix = 'shahn-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function makeContext(
  options: { env?: Record<string, string>; balance?: number; username?: string; config?: Partial<Config>; captureLogs?: boolean } = {},
): Promise<TestContext> {
  const dir = tempDir();
  const fresh = await freshStore(dir);
  const store = fresh.store;
  const config = loadConfig({ SHAHN_DB: fresh.db, SHAHN_LOG_LEVEL: 'silent', SHAHN_RATE_LIMIT: '100000', ...options.env }, options.config);
  const clock = new TestClock(Date.parse('2026-03-01T10:00:00.000Z'));
  const health = new StaticGatewayHealth();
  const deps = buildDeps(config, store, { clock, gateways: health });
  const merchant = await createMerchant(deps, { username: options.username ?? '+213665983439', balance: options.balance ?? 10_000 });
  const logs: Record<string, unknown>[] = [];
  const logger = options.captureLogs
    ? pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) })
    : pino({ level: 'silent' });
  const app = await buildApp(deps, { logger });
  await app.ready();
  return {
    app,
    deps,
    clock,
    health,
    config,
    dir,
    db: fresh.db,
    sql: fresh.sql,
    merchant,
    logs,
    async close() {
      await app.close();
      await store.close();
      await fresh.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

export async function call(
  ctx: TestContext,
  method: 'GET' | 'POST',
  url: string,
  options: { key?: string; body?: unknown; headers?: Record<string, string>; ip?: string } = {},
): Promise<Reply> {
  const res = await ctx.app.inject({
    method,
    url,
    headers: {
      ...(options.key !== undefined ? { 'x-access-token': options.key } : {}),
      ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...options.headers,
    },
    ...(options.body !== undefined ? { payload: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) } : {}),
    ...(options.ip ? { remoteAddress: options.ip } : {}),
  });
  return toReply(res);
}

/** An inject() response as a Reply: the JSON body when it parses, else the raw text. */
export function toReply(res: { statusCode: number; headers: Reply['headers']; body: string; json(): unknown }): Reply {
  let body: unknown;
  try {
    body = res.json();
  } catch {
    body = res.body;
  }
  return { status: res.statusCode, headers: res.headers, body };
}

/** Every response is in the envelope, with requestId in the body equal to X-Request-Id. */
export function expectEnvelope(reply: Reply): void {
  const b = reply.body as { success?: unknown; requestId?: unknown };
  if (typeof b !== 'object' || b === null) throw new Error(`not a JSON envelope: ${String(reply.body)}`);
  if (typeof b.requestId !== 'string' || !/^req_\d+_[0-9a-f]+$/.test(b.requestId)) throw new Error(`bad requestId ${String(b.requestId)}`);
  if (reply.headers['x-request-id'] !== b.requestId) throw new Error('X-Request-Id header differs from body requestId');
  if (b.success !== (reply.status < 400)) throw new Error(`success=${String(b.success)} with HTTP ${reply.status}`);
}

/** The sync kit's store for the suite: a SQLite file in `dir`, or (PostgreSQL suites) tables in the test database. */
export async function openTestKitStore(dir: string, db: string) {
  const { openPostgresKitStore, openSqliteKitStore } = await import('@shahn/merchant');
  const store = TEST_STORE === 'postgres' ? openPostgresKitStore(db) : openSqliteKitStore(join(dir, 'merchant.db'));
  await store.migrate();
  return { store, location: TEST_STORE === 'postgres' ? db : join(dir, 'merchant.db') };
}

/** A free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createNetServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Add a key to the context's merchant (as support would, audited); returns the secret. */
export async function addTestKey(
  ctx: TestContext,
  opts: { scope?: 'READ-ONLY' | 'READ-WRITE'; isEnabled?: boolean; allowedIps?: string[]; type?: 'SANDBOX' | 'PRODUCTION' },
): Promise<string> {
  const key = newApiKey();
  const now = ctx.clock.now();
  const id = newObjectId(now);
  await ctx.deps.store.accounts.insertKeyWithAudit(
    ctx.merchant.id,
    { id, keyHash: hashApiKey(key), type: opts.type ?? 'SANDBOX', scope: opts.scope ?? 'READ-WRITE', isEnabled: opts.isEnabled ?? true, allowedIps: opts.allowedIps ?? [] },
    now,
    auditRecord(now, 'test', 'key.create', id, ''),
  );
  return key;
}
