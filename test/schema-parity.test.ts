/**
 * The two dialects' migrations make the same schema: the same tables and columns (with their
 * NOT NULL), the same primary keys and unique constraints, the same named indexes (columns, order,
 * uniqueness, partial or not), the same number of CHECK constraints per table, and triggers with the
 * same effect (each money invariant refused by both stores alike). A migration changed in one dialect
 * only fails here.
 *
 * Stores: PostgreSQL only: it compares a migrated SQLite file with a migrated PostgreSQL database, so
 * it needs both (the SQLite project has no PostgreSQL to compare with).
 */
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { freshStore, tempDir, type RawSql } from './helpers.js';

interface Schema {
  columns: string[];
  uniques: string[];
  indexes: string[];
  checks: string[];
}

function sqliteSchema(path: string): Schema {
  const db = new Database(path, { readonly: true });
  try {
    const tables = (db.prepare(`SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`).all() as { name: string; sql: string }[]);
    const s: Schema = { columns: [], uniques: [], indexes: [], checks: [] };
    for (const t of tables) {
      const cols = db.prepare(`PRAGMA table_info(${t.name})`).all() as { name: string; notnull: number; pk: number }[];
      for (const c of cols) s.columns.push(`${t.name}.${c.name}${c.notnull || c.pk ? ' not null' : ''}`);
      const pk = cols.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name);
      if (pk.length) s.uniques.push(`${t.name}(${pk.join(',')})`);
      s.checks.push(`${t.name}: ${(t.sql.match(/\bCHECK\s*\(/gi) ?? []).length}`);
      for (const idx of db.prepare(`PRAGMA index_list(${t.name})`).all() as { name: string; unique: number; origin: string; partial: number }[]) {
        const info = (db.prepare(`PRAGMA index_xinfo(${idx.name})`).all() as { name: string | null; desc: number; key: number }[]).filter((x) => x.key === 1);
        const cols2 = info.map((x) => `${x.name}${x.desc ? ' desc' : ''}`);
        if (idx.origin === 'u') s.uniques.push(`${t.name}(${cols2.join(',')})`);
        else if (idx.origin === 'c') s.indexes.push(`${idx.name} on ${t.name}(${cols2.join(',')})${idx.unique ? ' unique' : ''}${idx.partial ? ' partial' : ''}`);
      }
    }
    for (const k of Object.keys(s) as (keyof Schema)[]) s[k].sort();
    return s;
  } finally {
    db.close();
  }
}

async function postgresSchema(url: string): Promise<Schema> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const s: Schema = { columns: [], uniques: [], indexes: [], checks: [] };
    const cols = await c.query<{ table_name: string; column_name: string; is_nullable: string }>(
      `SELECT table_name, column_name, is_nullable FROM information_schema.columns WHERE table_schema = 'public'`,
    );
    // PostgreSQL's ledger has its own sequence column for ordering (SQLite uses rowid).
    for (const r of cols.rows) if (!(r.table_name === 'ledger_entries' && r.column_name === 'seq')) s.columns.push(`${r.table_name}.${r.column_name}${r.is_nullable === 'NO' ? ' not null' : ''}`);
    const cons = await c.query<{ table: string; type: string; cols: string[] | null; name: string }>(
      `SELECT cl.relname AS table, co.contype AS type, co.conname AS name,
              (SELECT array_agg(a.attname::text ORDER BY k.ord) FROM unnest(co.conkey) WITH ORDINALITY k(attnum, ord)
                 JOIN pg_attribute a ON a.attrelid = co.conrelid AND a.attnum = k.attnum) AS cols
       FROM pg_constraint co JOIN pg_class cl ON cl.oid = co.conrelid JOIN pg_namespace n ON n.oid = cl.relnamespace
       WHERE n.nspname = 'public'`,
    );
    const checks = new Map<string, number>();
    for (const r of cons.rows) {
      if (r.type === 'p' || r.type === 'u') {
        if (r.table === 'ledger_entries' && r.cols?.join(',') === 'seq') continue;
        s.uniques.push(`${r.table}(${(r.cols ?? []).join(',')})`);
      }
      if (r.type === 'c') checks.set(r.table, (checks.get(r.table) ?? 0) + 1);
    }
    const tables = await c.query<{ tablename: string }>(`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`);
    for (const t of tables.rows) s.checks.push(`${t.tablename}: ${checks.get(t.tablename) ?? 0}`);
    const constraintIndexes = new Set(cons.rows.filter((r) => r.type === 'p' || r.type === 'u').map((r) => r.name));
    const idx = await c.query<{ indexname: string; tablename: string; indexdef: string }>(`SELECT indexname, tablename, indexdef FROM pg_indexes WHERE schemaname = 'public'`);
    for (const r of idx.rows) {
      if (constraintIndexes.has(r.indexname)) continue;
      if (r.tablename === 'ledger_entries' && r.indexname === 'ledger_by_merchant') {
        // SQLite's ledger_by_merchant is (merchant_id) with rowid implied; PostgreSQL's is (merchant_id, seq).
        s.indexes.push('ledger_by_merchant on ledger_entries(merchant_id)');
        continue;
      }
      const m = /^CREATE (UNIQUE )?INDEX \S+ ON \S+ USING btree \((.*?)\)( WHERE .*)?$/.exec(r.indexdef);
      if (!m) throw new Error(`unexpected index definition: ${r.indexdef}`);
      const cols2 = m[2]!.split(', ').map((x) => x.replace(/"/g, '').replace(/ DESC$/, ' desc'));
      s.indexes.push(`${r.indexname} on ${r.tablename}(${cols2.join(',')})${m[1] ? ' unique' : ''}${m[3] ? ' partial' : ''}`);
    }
    for (const k of Object.keys(s) as (keyof Schema)[]) s[k].sort();
    return s;
  } finally {
    await c.end();
  }
}

/**
 * Statements each store must refuse (the invariants the triggers and constraints hold), run on a
 * store with one merchant, its deposit and a charged production order.
 */
const REFUSED: [string, string][] = [
  ['a ledger entry changed', `UPDATE ledger_entries SET amount = amount + 1`],
  ['a ledger entry deleted', `DELETE FROM ledger_entries`],
  ['a balance moved without an entry', `UPDATE merchants SET balance = balance + 100`],
  ['a merchant created with money', `INSERT INTO merchants (id, username, balance, created_at) VALUES ('m2', '+213660000002', 5, 0)`],
  ['an entry that does not start from the balance', `INSERT INTO ledger_entries (id, merchant_id, type, operation, amount, old_balance, new_balance, objid, note, time, counter_account) VALUES ('e9', 'm1', 'DEPOSIT', 'INCREMENT', 10, 1, 11, 'e9', '', 0, 'system:deposits')`],
  ['a second charge for an order', `INSERT INTO ledger_entries (id, merchant_id, type, operation, amount, old_balance, new_balance, objid, note, time, counter_account) VALUES ('e8', 'm1', 'FLEXY', 'DECREMENT', 100, 9900, 9800, 'o1', '', 0, 'system:operator-settlement')`],
  ['a refund that is not the charge', `INSERT INTO ledger_entries (id, merchant_id, type, operation, amount, old_balance, new_balance, objid, note, time, counter_account) VALUES ('e7', 'm1', 'REFUND-FLEXY', 'INCREMENT', 50, 9900, 9950, 'o1', '', 0, 'system:operator-settlement')`],
  ['a PENDING order straight to FULFILLED', `UPDATE orders SET status = 'FULFILLED' WHERE id = 'o1'`],
  ['REFUNDED without its refund', `UPDATE orders SET status = 'HANDLING' WHERE id = 'o1'; UPDATE orders SET status = 'REFUNDED' WHERE id = 'o1'`],
  ['a negative balance', `INSERT INTO ledger_entries (id, merchant_id, type, operation, amount, old_balance, new_balance, objid, note, time, counter_account) VALUES ('e6', 'm1', 'FLEXY', 'DECREMENT', 99999, 9900, -90099, 'o9', '', 0, 'system:operator-settlement')`],
  ['the audit trail changed', `UPDATE audit_log SET reason = 'x'`],
  ['the audit trail deleted', `DELETE FROM audit_log`],
  ['a sandbox order without its scenario', `INSERT INTO orders (id, merchant_id, env, ref, status, plan_code, mssidn, topup_amount, charge, created_at, updated_at) VALUES ('o3', 'm1', 'SANDBOX', 'r3', 'PENDING', 'P', '0661234567', 100, 100, 0, 0)`],
  ['a duplicate ref', `INSERT INTO orders (id, merchant_id, env, ref, status, plan_code, mssidn, topup_amount, charge, created_at, updated_at) VALUES ('o4', 'm1', 'PRODUCTION', 'r1', 'PENDING', 'P', '0661234567', 100, 0, 0, 0)`],
];

const SETUP = [
  `INSERT INTO merchants (id, username, balance, created_at) VALUES ('m1', '+213660000001', 0, 0)`,
  `INSERT INTO ledger_entries (id, merchant_id, type, operation, amount, old_balance, new_balance, objid, note, time, counter_account) VALUES ('e1', 'm1', 'DEPOSIT', 'INCREMENT', 10000, 0, 10000, 'e1', '', 0, 'system:deposits')`,
  `INSERT INTO orders (id, merchant_id, env, ref, status, plan_code, mssidn, topup_amount, charge, created_at, updated_at) VALUES ('o1', 'm1', 'PRODUCTION', 'r1', 'PENDING', 'P', '0661234567', 100, 100, 0, 0)`,
  `INSERT INTO ledger_entries (id, merchant_id, type, operation, amount, old_balance, new_balance, objid, note, time, counter_account) VALUES ('e2', 'm1', 'FLEXY', 'DECREMENT', 100, 10000, 9900, 'o1', '', 0, 'system:operator-settlement')`,
  `INSERT INTO audit_log (id, at, actor, action, target) VALUES ('a1', 0, 'test', 'x', 'o1')`,
];

/** Which of REFUSED a store lets through (each tried alone, in a transaction rolled back after). */
async function accepted(run: (sql: string) => Promise<void>): Promise<string[]> {
  const through: string[] = [];
  for (const [what, sql] of REFUSED) {
    try {
      await run(`BEGIN; ${sql}; ROLLBACK;`);
      through.push(what);
    } catch {
      await run('ROLLBACK').catch(() => undefined);
    }
  }
  return through;
}

describe('schema parity between the SQLite and PostgreSQL migrations', () => {
  let sqlitePath: string;
  let pgStore: Awaited<ReturnType<typeof freshStore>>;
  beforeAll(async () => {
    const { openSqliteStore } = await import('../src/store/sqlite/open-sqlite-store.js');
    const { migrateStore } = await import('../src/runtime/open-store.js');
    sqlitePath = join(tempDir(), 'parity.db');
    const s = openSqliteStore(sqlitePath);
    await migrateStore(s);
    await s.close();
    pgStore = await freshStore(tempDir());
    await pgStore.store.close();
  });
  afterAll(async () => {
    await pgStore?.drop();
  });

  it('tables, columns, keys, indexes and CHECK constraints match', async () => {
    const [lite, post] = [sqliteSchema(sqlitePath), await postgresSchema(pgStore.db)];
    expect(lite.columns).toEqual(post.columns);
    expect(lite.uniques).toEqual(post.uniques);
    expect(lite.indexes).toEqual(post.indexes);
    expect(lite.checks).toEqual(post.checks);
  });

  it('the triggers and constraints refuse the same changes on both', async () => {
    const db = new Database(sqlitePath);
    const liteRun = async (sql: string) => void db.exec(sql);
    for (const s of SETUP) await liteRun(s);
    const pgRaw: RawSql = pgStore.sql;
    for (const s of SETUP) await pgRaw.run(s);
    const client = new pg.Client({ connectionString: pgStore.db });
    await client.connect();
    try {
      const liteThrough = await accepted(liteRun);
      const pgThrough = await accepted(async (sql) => void (await client.query(sql)));
      expect(liteThrough).toEqual([]);
      expect(pgThrough).toEqual([]);
    } finally {
      db.close();
      await client.end();
    }
  });
});
