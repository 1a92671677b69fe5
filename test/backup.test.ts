/**
 * `shahn backup` through the built CLI. A copy taken while `shahn serve` takes production sends from
 * several concurrent senders (the simulator fulfilling, refunding and losing them) holds every order
 * acknowledged before the backup started, is intact (integrity_check, the schema version) and passes
 * the ledger audit, and a second `shahn serve` runs on it and answers check-id for each of those
 * orders with the merchant's key. An existing file is refused unless --force; the copy of a damaged
 * store fails its checks (exit code 3) and is not put in place; a missing store and a PostgreSQL URL
 * are one clear line and a non-zero exit code, and write nothing.
 * Stores: SQLite only: the command copies a SQLite file with SQLite's online backup API; a PostgreSQL
 * store is backed up with pg_dump, and this file checks that the command says so with the command line.
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { LATEST_SCHEMA_VERSION } from '../src/store/migrations.js';
import { openSqliteStore } from '../src/store/sqlite/open-sqlite-store.js';
import { tempDir } from './helpers.js';
import { runCliAsync, startServe, type ServeProcess } from './serve-process.js';

const dir = tempDir('shahn-backup-');
const SENDERS = 6;

/** A store's own view of itself: integrity_check, its schema version, its orders. */
function inspect(file: string): { integrity: string[]; version: number; orders: number } {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return {
      integrity: (db.pragma('integrity_check') as { integrity_check: string }[]).map((r) => r.integrity_check),
      version: (db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number }).v,
      orders: (db.prepare('SELECT COUNT(*) AS n FROM orders').get() as { n: number }).n,
    };
  } finally {
    db.close();
  }
}

async function auditOf(file: string) {
  const store = openSqliteStore(file, { orderCacheSize: 0 });
  try {
    return await store.ledger.checkMoney();
  } finally {
    await store.close();
  }
}

/** No line of a stack trace, no "unexpected error": one sentence for a person. */
function expectClearError(r: { status: number | null; stderr: string }, mention: string): void {
  expect(r.status, r.stderr).toBe(1);
  expect(r.stderr).toContain(mention);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stderr).not.toContain('unexpected error');
}

describe('shahn backup', () => {
  const servers: ServeProcess[] = [];
  afterEach(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    servers.length = 0;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const store = join(dir, 'shahn.db');
  const copy = join(dir, 'backups', 'shahn-copy.db');
  const serveEnv = (db: string) => ({
    SHAHN_DB: db,
    SHAHN_DEMO: 'false',
    SHAHN_RATE_LIMIT: '0',
    SHAHN_ACCESS_LOG: 'false',
    SHAHN_LOG_LEVEL: 'error',
    SHAHN_SIMULATOR_CONFIG: join(dir, 'simulator.json'),
    SHAHN_GATEWAY_TIMEOUT_MS: '1000',
    SHAHN_LEASE_MS: '2000',
    SHAHN_SHUTDOWN_GRACE_MS: '2000',
    SHAHN_PROCESSOR_POLL_MS: '50',
  });

  it('copies the store under continuous sends: every order acknowledged before it started is in the copy, which serves and passes the audit', async () => {
    // Fulfilled, refunded and uncertain outcomes, so that the copy holds charges, refunds and held charges.
    writeFileSync(
      join(dir, 'simulator.json'),
      JSON.stringify({ seed: 7, defaults: { latencyMs: { min: 10, max: 150 }, rates: { fulfilled: 6, wrongNumber: 1, planMismatch: 1, garbled: 1, timeout: 1 } } }),
    );
    rmSync(join(dir, 'backups'), { recursive: true, force: true });
    const created = await runCliAsync(['merchant', 'create', '--username', '+213661234567', '--balance', '100000000', '--json'], { SHAHN_DB: store });
    expect(created.status, created.stderr).toBe(0);
    const merchant = JSON.parse(created.stdout) as { productionKey: string };
    const first = await startServe(serveEnv(store));
    servers.push(first);

    // Senders run until told to stop; each acknowledged send (HTTP 200) is recorded with the moment its answer came.
    const acked: { id: string; at: number }[] = [];
    let running = true;
    let refSeq = 0;
    const sender = async () => {
      while (running) {
        const r = await fetch(`${first.url}/v3/mobile/send`, {
          method: 'POST',
          headers: { 'X-Access-Token': merchant.productionKey, 'Content-Type': 'application/json' },
          body: JSON.stringify({ plan_code: 'PREPAID_MOBILIS', MSSIDN: '0661234567', amount: 100 + (refSeq % 50) * 10, ref: `bk-${refSeq++}` }),
        });
        const body = (await r.json()) as { success: boolean; data: { topupId: string } };
        if (r.status === 200 && body.success) acked.push({ id: body.data.topupId, at: Date.now() });
      }
    };
    const senders = Array.from({ length: SENDERS }, () => sender());
    // At least 1.5 s of sends and more than 50 acknowledged before the copy starts (alone this takes
    // 1.5 s and ~1,000 sends; beside the rest of the suite on 2 cores, sends can be 20 times slower).
    const settleBy = Date.now() + 20_000;
    await new Promise((r) => setTimeout(r, 1500));
    while (acked.length <= 50 && Date.now() < settleBy) await new Promise((r) => setTimeout(r, 50));

    mkdirSync(join(dir, 'backups'), { mode: 0o700 });
    const backupStarted = Date.now();
    const before = acked.filter((a) => a.at <= backupStarted).map((a) => a.id);
    const backup = await runCliAsync(['backup', '--to', copy], { SHAHN_DB: store });
    const backupEnded = Date.now();
    await new Promise((r) => setTimeout(r, 200));
    running = false;
    await Promise.all(senders);
    await first.stop();

    expect(backup.status, backup.stderr).toBe(0);
    expect(before.length).toBeGreaterThan(50);
    // The sends went on while the copy was taken.
    expect(acked.filter((a) => a.at > backupStarted && a.at < backupEnded).length).toBeGreaterThan(0);
    const printed = /(\d[\d,]*) order\(s\), (\d[\d,]*) ledger entr/.exec(backup.stdout);
    expect(printed, backup.stdout).not.toBeNull();
    expect(backup.stdout).toContain('checks passed: integrity_check ok');
    expect(Number(printed![1]!.replace(/,/g, ''))).toBeGreaterThanOrEqual(before.length);
    expect(readdirSync(join(dir, 'backups'))).toEqual(['shahn-copy.db']); // no temporary file left

    // The copy as written: intact, the store's schema, the ledger audit clean.
    const seen = inspect(copy);
    expect(seen.integrity).toEqual(['ok']);
    expect(seen.version).toBe(LATEST_SCHEMA_VERSION);
    expect(seen.orders).toBeGreaterThanOrEqual(before.length);
    expect(await auditOf(copy)).toEqual([]);

    // A new `shahn serve` on the copy answers check-id for every order acknowledged before the backup started.
    const second = await startServe(serveEnv(copy));
    servers.push(second);
    const missing: string[] = [];
    for (let i = 0; i < before.length; i += 32) {
      await Promise.all(
        before.slice(i, i + 32).map(async (id) => {
          const r = await fetch(`${second.url}/v3/mobile/check-id/${id}`, { headers: { 'X-Access-Token': merchant.productionKey } });
          const body = (await r.json()) as { data?: { _id: string } };
          if (r.status !== 200 || body.data?._id !== id) missing.push(id);
        }),
      );
    }
    expect(missing).toEqual([]);
    await second.stop();
    // The second server settled the copy's open orders: the audit still holds.
    expect(await auditOf(copy)).toEqual([]);
  }, 60_000);

  it('refuses an existing file unless --force, and then replaces it', async () => {
    const small = join(dir, 'small.db');
    const created = await runCliAsync(['merchant', 'create', '--username', '+213661234568', '--balance', '500'], { SHAHN_DB: small });
    expect(created.status, created.stderr).toBe(0);
    const target = join(dir, 'existing.db');
    writeFileSync(target, 'not a backup');
    const refused = await runCliAsync(['backup', '--to', target], { SHAHN_DB: small });
    expectClearError(refused, 'already exists');
    expect(refused.stderr).toContain('--force');
    expect(readFileSync(target, 'utf8')).toBe('not a backup');

    const forced = await runCliAsync(['backup', '--to', target, '--force', '--json'], { SHAHN_DB: small });
    expect(forced.status, forced.stderr).toBe(0);
    const result = JSON.parse(forced.stdout) as { destination: string; merchants: number; ledgerEntries: number };
    expect(result).toMatchObject({ destination: target, merchants: 1, ledgerEntries: 1 });
    expect(readFileSync(target).subarray(0, 16).toString('latin1')).toBe('SQLite format 3\0');
    expect(inspect(target).integrity).toEqual(['ok']);
  });

  it('a damaged store: the copy fails integrity_check, exit code 3, nothing is put in place', async () => {
    const damaged = join(dir, 'damaged.db');
    const created = await runCliAsync(['merchant', 'create', '--username', '+213661234569', '--balance', '500'], { SHAHN_DB: damaged });
    expect(created.status, created.stderr).toBe(0);
    // Overwrite the cells at the end of one index page: the file still opens, its index no longer matches its table.
    const db = new Database(damaged);
    const page = (db.prepare("SELECT rootpage FROM sqlite_master WHERE name = 'api_keys_merchant'").get() as { rootpage: number }).rootpage;
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    const fd = openSync(damaged, 'r+');
    writeSync(fd, Buffer.alloc(300, 7), 0, 300, page * pageSize - 300);
    closeSync(fd);
    const target = join(dir, 'damaged-copy.db');
    const r = await runCliAsync(['backup', '--to', target], { SHAHN_DB: damaged });
    expect(r.status, r.stderr).toBe(3);
    expect(r.stderr).toContain('The copy failed PRAGMA integrity_check');
    expect(r.stderr).toContain('nothing was put in place');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(target)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('on a PostgreSQL store: exits non-zero and gives the pg_dump command line, without the password', async () => {
    const target = join(dir, 'shahn.dump');
    const url = 'postgres://shahn:s3cret@127.0.0.1:1/shahn';
    for (const r of [
      await runCliAsync(['backup', '--to', target], { SHAHN_DB: url }),
      await runCliAsync(['backup', '--to', target, '--db', url]),
    ]) {
      expectClearError(r, `pg_dump --format=custom --file=${target} postgres://shahn@127.0.0.1:1/shahn`);
      expect(r.stderr).not.toContain('s3cret');
    }
    expect(existsSync(target)).toBe(false);
  });

  it('a missing store is one clear line, and creates neither the store nor the backup', async () => {
    const missing = join(dir, 'nowhere', 'shahn.db');
    const target = join(dir, 'from-missing.db');
    const r = await runCliAsync(['backup', '--to', target, '--db', missing]);
    expectClearError(r, `There is no SQLite store at "${missing}"`);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(missing)).toBe(false);
    expect(existsSync(join(dir, 'nowhere'))).toBe(false);
    expect(existsSync(target)).toBe(false);
  });
});
