/**
 * bench/auth-failures.mjs: the cost of a failed key as the failed-key table (auth_failures) fills.
 *
 *   npm run build && node bench/auth-failures.mjs [--rows 100000] [--calls 2000] [--duration 8] [--no-http]
 *
 * 1. Store level, SQLite and (when reachable) PostgreSQL: the table is filled to 0, 10,000, 50,000 and
 *    --rows records (each from its own IP, inside the 15-minute window, so none may be purged), then
 *    --calls failures from fresh IPs are recorded; it prints the time per failure. In the same run, at
 *    the same fill, a purge run on every failure without the index on the first failure's time (a
 *    DELETE that walks every unblocked row) is timed as the baseline.
 * 2. HTTP, SQLite: `shahn serve` behind a simulated proxy (SHAHN_TRUST_PROXY=1), wrk sending bad keys,
 *    each request from a new client address (X-Forwarded-For); req/s, p99 and the server's CPU per
 *    request with an empty table and with --rows records.
 * Target: the cost per failure stays flat (the largest fill within 1.5x of the empty table).
 * Exit 0 = target met, 1 = missed, 2 = the run broke.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  benchArgs, dist, haveWrk, intArg, killChildrenNow, procCpu, round, ROOT, runMain, runWrk, startServeChild, stopChild, col,
} from './lib.mjs';

const args = benchArgs(import.meta.url, { rows: { type: 'string' }, calls: { type: 'string' }, duration: { type: 'string' }, 'no-http': { type: 'boolean' } });
const ROWS = intArg(args, 'rows', 1000, 5_000_000, 100_000);
const CALLS = intArg(args, 'calls', 100, 1_000_000, 2000);
const DURATION = intArg(args, 'duration', 2, 600, 8);
const FILLS = [...new Set([0, 10_000, 50_000, ROWS])].filter((n) => n <= ROWS).sort((a, b) => a - b);
const WINDOW = 15 * 60_000;
const PG_URL = process.env.SHAHN_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const dir = mkdtempSync(join(tmpdir(), 'shahn-bench-auth-'));
const children = new Set();
const { openSqliteStore } = await dist('store/sqlite/open-sqlite-store.js');
const { openPostgresStore } = await dist('store/postgres/open-postgres-store.js');
const { migrateStore } = await dist('runtime/open-store.js');

const ip = (n) => `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
/**
 * The baseline: a purge on every failure, with the plan it gets without the index on the first
 * failure's time (it walks the blocked_until index over every unblocked row).
 * SQLite forces that index; PostgreSQL runs it in a transaction that drops the new index and rolls back.
 */
const OLD_PURGE = {
  sqlite: 'DELETE FROM auth_failures INDEXED BY auth_failures_blocked WHERE blocked_until < ? AND first_failure_at < ?',
  postgres: 'DELETE FROM auth_failures WHERE blocked_until < $1 AND first_failure_at < $2',
};

async function storeLevel(kind, store, raw) {
  const rows = [];
  let filled = 0;
  let next = 10_000_000;
  const now = Date.now();
  for (const fill of FILLS) {
    // Fill with records inside the window (first failure a minute ago): none may be purged.
    if (fill > filled) {
      await raw.fill(filled, fill, now - 60_000);
      filled = fill;
    }
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < CALLS; i++) await store.guards.recordAuthFailure({ ip: ip(next++), now, windowMs: WINDOW, max: 5, blockMs: WINDOW });
    const perFailure = Number(process.hrtime.bigint() - t0) / 1000 / CALLS;
    const t1 = process.hrtime.bigint();
    const oldCalls = Math.max(20, Math.floor(CALLS / 10));
    for (let i = 0; i < oldCalls; i++) await raw.oldPurge(now);
    const oldPurge = Number(process.hrtime.bigint() - t1) / 1000 / oldCalls;
    // Undo this fill's failures so the next fill starts from its own count.
    await raw.deleteFrom(10_000_000);
    next = 10_000_000;
    rows.push({ kind, fill, perFailureUs: round(perFailure, 1), oldPurgeUs: round(oldPurge, 1) });
    console.log(`${col(kind, 8)} ${col(fill.toLocaleString('en'), 9)} rows: ${col(round(perFailure, 1), 8)} µs per failure; a per-failure purge (baseline) alone: ${col(round(oldPurge, 1), 9)} µs`);
  }
  return rows;
}

async function sqliteStoreLevel() {
  const path = join(dir, 'store.db');
  const store = openSqliteStore(path);
  await migrateStore(store);
  const Database = (await import('better-sqlite3')).default;
  const db = new Database(path);
  db.pragma('busy_timeout = 5000');
  const raw = {
    fill: async (from, to, at) => {
      const ins = db.prepare('INSERT INTO auth_failures (ip, failures, first_failure_at, blocked_until) VALUES (?, 1, ?, 0)');
      db.transaction(() => {
        for (let i = from; i < to; i++) ins.run(ip(i), at);
      })();
    },
    oldPurge: async (now) => db.prepare(OLD_PURGE.sqlite).run(now, now - WINDOW),
    deleteFrom: async (n) => db.prepare('DELETE FROM auth_failures WHERE ip >= ? AND ip < ?').run(ip(n), ip(n + 16_000_000)),
  };
  try {
    return await storeLevel('sqlite', store, raw);
  } finally {
    db.close();
    await store.close();
  }
}

async function postgresStoreLevel() {
  const pg = (await import('pg')).default;
  const admin = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  try {
    await admin.connect();
  } catch (err) {
    console.log(`postgres: skipped (no PostgreSQL at ${PG_URL}: ${err.message})`);
    return [];
  }
  const name = `shahn_bench_auth_${process.pid}`;
  await admin.query(`DROP DATABASE IF EXISTS ${name}`);
  await admin.query(`CREATE DATABASE ${name}`);
  const u = new URL(PG_URL);
  u.pathname = `/${name}`;
  const store = openPostgresStore(u.toString(), { poolSize: 2 });
  const client = new pg.Client({ connectionString: u.toString() });
  try {
    await migrateStore(store);
    await client.connect();
    const raw = {
      fill: async (from, to, at) => {
        await client.query(
          `INSERT INTO auth_failures (ip, failures, first_failure_at, blocked_until)
           SELECT '10.' || ((g >> 16) & 255) || '.' || ((g >> 8) & 255) || '.' || (g & 255), 1, $3, 0 FROM generate_series($1::int, $2::int - 1) g`,
          [from, to, at],
        );
        await client.query('ANALYZE auth_failures');
      },
      oldPurge: async (now) => {
        await client.query('BEGIN');
        await client.query('DROP INDEX auth_failures_first');
        await client.query(OLD_PURGE.postgres, [now, now - WINDOW]);
        await client.query('ROLLBACK');
      },
      deleteFrom: async (n) => client.query('DELETE FROM auth_failures WHERE ip >= $1 AND ip < $2', [ip(n), ip(n + 16_000_000)]),
    };
    return await storeLevel('postgres', store, raw);
  } finally {
    await client.end().catch(() => undefined);
    await store.close();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

async function httpLevel() {
  if (!haveWrk()) {
    console.log('http: skipped (no wrk; run scripts/ensure-debian-packages.sh wrk)');
    return [];
  }
  const script = join(dir, 'bad-keys.lua');
  // Each request: a bad key from a new client address, as one proxy in front would forward it.
  writeFileSync(script, `
local n = 0
request = function()
  n = n + 1
  local a = 11 + (n % 200)
  local b = math.floor(n / 200) % 250
  local c = math.floor(n / 50000) % 250
  local addr = a .. "." .. c .. "." .. b .. "." .. (n % 250 + 1)
  return wrk.format("GET", "/v3/validate", { ["X-Access-Token"] = "bad-key-" .. n, ["X-Forwarded-For"] = addr })
end
`);
  const out = [];
  for (const fill of [0, ROWS]) {
    const db = join(dir, `http-${fill}.db`);
    const store = openSqliteStore(db);
    await migrateStore(store);
    await store.close();
    if (fill > 0) {
      const Database = (await import('better-sqlite3')).default;
      const raw = new Database(db);
      const ins = raw.prepare('INSERT INTO auth_failures (ip, failures, first_failure_at, blocked_until) VALUES (?, 1, ?, 0)');
      const at = Date.now();
      raw.transaction(() => {
        for (let i = 0; i < fill; i++) ins.run(ip(i), at);
      })();
      raw.close();
    }
    const { child, url } = await startServeChild(ROOT, { SHAHN_DB: db, SHAHN_TRUST_PROXY: '1', SHAHN_LOG_LEVEL: 'error', SHAHN_PROCESSOR: 'false' }, children);
    await runWrk({ url, connections: 32, durationS: 2, script }); // warm-up
    const cpu0 = procCpu(child.pid);
    const r = await runWrk({ url, connections: 32, durationS: DURATION, script });
    const cpu = procCpu(child.pid) - cpu0;
    await stopChild(children, child, 5000);
    const row = { fill, rps: round(r.rps, 0), p99Ms: round(r.p99, 2), cpuUsPerRequest: round((cpu * 1e6) / r.requests, 1) };
    out.push(row);
    console.log(`http     ${col(fill.toLocaleString('en'), 9)} rows: ${col(row.rps, 7)} req/s, p99 ${col(row.p99Ms, 6)} ms, server CPU ${col(row.cpuUsPerRequest, 6)} µs per failed key`);
  }
  return out;
}

async function main() {
  console.log(`failed keys at ${FILLS.map((f) => f.toLocaleString('en')).join(' / ')} rows in auth_failures; ${CALLS} failures per fill\n`);
  const store = [...(await sqliteStoreLevel()), ...(await postgresStoreLevel())];
  const http = args['no-http'] ? [] : await httpLevel();
  let ok = true;
  console.log('');
  for (const kind of ['sqlite', 'postgres']) {
    const rows = store.filter((r) => r.kind === kind);
    if (rows.length < 2) continue;
    const ratio = rows.at(-1).perFailureUs / rows[0].perFailureUs;
    const oldRatio = rows.at(-1).oldPurgeUs / Math.max(rows[0].oldPurgeUs, 0.001);
    const pass = ratio <= 1.5;
    ok &&= pass;
    console.log(`${kind}: a failure at ${ROWS.toLocaleString('en')} rows costs ${round(ratio, 2)}x one at 0 rows (target <= 1.5x) ${pass ? 'PASS' : 'FAIL'}; the per-failure purge baseline: ${round(oldRatio, 0)}x`);
  }
  if (http.length === 2) {
    const ratio = http[1].rps / http[0].rps;
    console.log(`http: ${round(ratio, 2)}x the req/s of the empty table at ${ROWS.toLocaleString('en')} rows (server CPU per request ${http[0].cpuUsPerRequest} → ${http[1].cpuUsPerRequest} µs)`);
  }
  return ok ? 0 : 1;
}

runMain(main, async () => {
  killChildrenNow(children);
  rmSync(dir, { recursive: true, force: true });
});
