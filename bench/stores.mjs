#!/usr/bin/env node
/**
 * SQLite vs PostgreSQL: check-id and production send throughput of shahn on each store, against a
 * plain node:http baseline, and 1 vs 2 API processes on PostgreSQL.
 *
 *   npm run build && node bench/stores.mjs [--orders N] [--rounds R] [--duration S] [--warmup S]
 *                                          [--connections C] [--merchants M] [--quiet-wait S]
 *                                          [--pg-url postgres://postgres@127.0.0.1:5432] [--pg-db shahn_bench]
 *                                          [--pg-pool N]
 *
 * One run: build the same data (N orders over M merchants, generated once by a seeded generator) into
 *  - a SQLite store in a temp dir (`shahn migrate`, `shahn merchant create --json`, then bulk inserts), and
 *  - a fresh PostgreSQL database --pg-db (`shahn migrate`, `shahn merchant create --json`, then
 *    multi-row INSERTs of 1,000 rows, then VACUUM ANALYZE);
 * start a node:http baseline answering the same check-id JSON body, one `shahn serve` on the SQLite
 * store and two `shahn serve` on the PostgreSQL database (all child processes, loopback only), and
 * drive them with autocannon from this process. Each round measures, in turn:
 *   baseline, check-id on SQLite / PostgreSQL x1 / PostgreSQL x2,
 *   baseline, send on SQLite / PostgreSQL x1 / PostgreSQL x2
 * (the store order is reversed every other round). "x2" splits the connections over the two
 * processes: two autocannon instances of C/2 connections each, in parallel. Ratios are paired within
 * a round (target / the baseline measured just before it; x2 / x1), then the median over the rounds
 * is reported. Results: bench/results/stores.json. The database is dropped and the temp dir removed
 * at the end (also on SIGINT/SIGTERM).
 * Exit code: 0 done and no request failed, 1 done but some requests failed (non-2xx, errors or
 * timeouts: see the table), 2 the run broke.
 */
import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import pg from 'pg';
import {
  benchArgs, BENCH_BALANCE_DZD, BENCH_SHARE, BENCH_USERNAME, CLK_TCK, MESSAGES, NOISY_CORES, ROOT, SAMPLE_IDS, SANDBOX_SHARE, cannon, col, dist,
  envWithoutShahn, gitInfo, intArg, killChildrenNow, loadAutocannon, median, orderId, percentile, procCpu, round, runMain,
  startBaseline, stopChild, sysCpu, waitForFile, waitQuiet,
} from './lib.mjs';

await loadAutocannon();
const execFileP = promisify(execFile);
const SHAHN_BIN = join(ROOT, 'bin', 'shahn.js');
const { openSqliteStore } = await dist('store/sqlite/open-sqlite-store.js');
const { chargeCentimes } = await dist('lib/money.js');
const { hashApiKey } = await dist('lib/ids.js');
// The simulator's seeded generator: the same rows on every run.
const { seededRandom: mulberry32 } = await dist('gateways/operator-simulator.js');
if (!existsSync(SHAHN_BIN) || !existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) {
  console.error('dist/cli/main.js is missing: run `npm run build` first.');
  process.exit(2);
}

const RESULTS_DIR = join(ROOT, 'bench', 'results');
const PG_BATCH = 1_000; // rows per multi-row INSERT
const DB_COMMENT = 'scratch database of shahn bench/stores.mjs; dropped at the end of a run';
// ---------------------------------------------------------------- arguments

const args = benchArgs(import.meta.url, {
  orders: { type: 'string', default: '200000' },
  merchants: { type: 'string', default: '1000' },
  duration: { type: 'string', default: '10' },
  warmup: { type: 'string', default: '2' },
  connections: { type: 'string', default: '64' },
  rounds: { type: 'string', default: '2' },
  'quiet-wait': { type: 'string', default: '10' },
  'pg-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432' },
  'pg-db': { type: 'string', default: 'shahn_bench' },
  'pg-pool': { type: 'string', default: '' },
});
const ORDERS = intArg(args, 'orders', 1_000, 5_000_000);
const MERCHANTS = intArg(args, 'merchants', 1, 100_000);
const DURATION = intArg(args, 'duration', 1, 300);
const WARMUP = intArg(args, 'warmup', 0, 60);
const CONNECTIONS = intArg(args, 'connections', 2, 1024);
const ROUNDS = intArg(args, 'rounds', 1, 10);
const QUIET_WAIT = intArg(args, 'quiet-wait', 0, 120);
const PG_POOL = args['pg-pool'] === '' ? null : intArg(args, 'pg-pool', 1, 45);
const PG_DB = args['pg-db'];
if (!/^[a-z_][a-z0-9_]{0,62}$/.test(PG_DB)) {
  console.error(`--pg-db must be a plain lower-case identifier, got "${PG_DB}"`);
  process.exit(2);
}
let PG_BASE;
try {
  PG_BASE = new URL(args['pg-url']);
  if (!/^postgres(ql)?:$/.test(PG_BASE.protocol)) throw new Error('not a postgres:// URL');
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(PG_BASE.hostname)) throw new Error('the benchmark runs on loopback only');
} catch (err) {
  console.error(`--pg-url: ${err.message}`);
  process.exit(2);
}
const pgUrl = (db) => {
  const u = new URL(PG_BASE.href);
  u.pathname = `/${db}`;
  return u.href;
};
const PG_ADMIN_URL = pgUrl('postgres');
const PG_BENCH_URL = pgUrl(PG_DB);
const showUrl = (u) => u.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@');

// ---------------------------------------------------------------- children and cleanup

const children = new Set();
let tmpDir;
let dbCreated = false;
let cleaningUp = false;

async function dropDatabase() {
  if (!dbCreated) return;
  const c = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 5000 });
  try {
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${PG_DB} WITH (FORCE)`);
    dbCreated = false;
  } catch (err) {
    console.error(`could not drop database ${PG_DB}: ${err.message} (drop it by hand: psql -c 'DROP DATABASE ${PG_DB} WITH (FORCE)')`);
  } finally {
    await c.end().catch(() => undefined);
  }
}
async function cleanup() {
  if (cleaningUp) return;
  cleaningUp = true;
  await Promise.all([...children].map((c) => stopChild(children, c, 5_000)));
  await dropDatabase();
  if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
}
process.on('exit', () => {
  killChildrenNow(children);
  if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    console.error(`\n${sig}: stopping children, dropping ${PG_DB}`);
    cleanup().finally(() => process.exit(130));
  });
}

// A hard bound on the whole run: building both stores + start-up + every phase, with room to spare.
const PHASES_PER_ROUND = 8;
const HARD_LIMIT_MS = (15 * 60 + Math.ceil(ORDERS / 1000) + ROUNDS * PHASES_PER_ROUND * (WARMUP + DURATION + QUIET_WAIT + 30) + 120) * 1000;
const hardLimit = setTimeout(() => {
  console.error(`benchmark exceeded its hard limit of ${Math.round(HARD_LIMIT_MS / 1000)} s; killing children and dropping ${PG_DB}`);
  killChildrenNow(children);
  dropDatabase().finally(() => {
    if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
    process.exit(2);
  });
}, HARD_LIMIT_MS);
hardLimit.unref();

const log = (...a) => console.log(...a);

// ---------------------------------------------------------------- shahn CLI

function cliEnv(db) {
  return { ...envWithoutShahn(), SHAHN_DB: db, SHAHN_LOG_LEVEL: 'warn', SHAHN_DEMO: 'false' };
}
async function shahnCli(db, ...cliArgs) {
  try {
    const { stdout } = await execFileP(process.execPath, [SHAHN_BIN, ...cliArgs], { cwd: ROOT, env: cliEnv(db), timeout: 120_000, maxBuffer: 1 << 20 });
    return stdout.trim();
  } catch (err) {
    throw new Error(`shahn ${cliArgs.join(' ')} failed: ${err.stderr || err.message}`);
  }
}
/** `shahn migrate` then `shahn merchant create --json`: the benchmarked merchant, with real keys. */
async function migrateAndCreateMerchant(db) {
  const migrated = await shahnCli(db, 'migrate');
  const out = await shahnCli(db, 'merchant', 'create', '--username', BENCH_USERNAME, '--balance', String(BENCH_BALANCE_DZD), '--json');
  const merchant = JSON.parse(out.split('\n').filter((l) => l.startsWith('{')).pop());
  if (!merchant.productionKey) throw new Error(`merchant create --json printed no productionKey: ${out}`);
  return { migrated, merchant };
}

// ---------------------------------------------------------------- data generation (the same rows for both stores)

const MERCHANT_COLUMNS = ['id', 'username', 'balance', 'created_at'];
const KEY_COLUMNS = ['id', 'merchant_id', 'key_hash', 'type', 'scope', 'is_enabled', 'allowed_ips', 'created_at'];
const ORDER_COLUMNS = ['id', 'merchant_id', 'env', 'ref', 'status', 'plan_code', 'mssidn', 'topup_amount', 'charge', 'created_at', 'updated_at',
  'refund_message', 'suggested_offers', 'follow_orderid', 'retry_orderid', 'sandbox_scenario', 'attempts', 'call_started_at', 'final_at'];

/** The other merchants (balance 0, two keys each). Deterministic given `now`. */
function otherMerchants(now) {
  const merchants = [];
  const keys = [];
  for (let m = 1; m < MERCHANTS; m++) {
    const createdAt = now - 400 * 86_400_000 + m * 1000;
    const id = Math.floor(createdAt / 1000).toString(16).padStart(8, '0') + 'a1' + m.toString(16).padStart(14, '0');
    merchants.push([id, `+21366${String(m).padStart(7, '0')}`, 0, createdAt]);
    for (const type of ['SANDBOX', 'PRODUCTION']) keys.push([id + type[0], id, hashApiKey(`bench-${id}-${type}`), type, 'READ-WRITE', 1, '[]', createdAt]);
  }
  return { merchants, keys, ids: merchants.map((m) => m[0]) };
}

/**
 * Orders: a year of history, increasing created_at and ids; every production order is final, so no
 * processor would find work. Calls onBatch(rows) per PG_BATCH rows. The same seed, `now` and catalogue
 * give the same rows on both stores; only the benchmarked merchant's id differs (each store made its own).
 */
async function generateOrders({ now, benchId, otherIds, plans, operators }, onBatch) {
  const rnd = mulberry32(20_260_101);
  const nonMenu = plans.filter((p) => !p.isMenu);
  const start = now - 365 * 86_400_000;
  const step = (365 * 86_400_000 - 3_600_000) / ORDERS;
  const seq = new Map();
  const sample = [];
  let benchProd = 0;
  const counts = { PRODUCTION: 0, SANDBOX: 0, bench: { PRODUCTION: 0, SANDBOX: 0 }, status: {} };
  let batch = [];
  for (let i = 0; i < ORDERS; i++) {
    const createdAt = Math.floor(start + i * step + rnd() * step);
    const isBench = rnd() < BENCH_SHARE;
    const merchantId = isBench || otherIds.length === 0 ? benchId : otherIds[Math.floor(rnd() * otherIds.length)];
    const env = rnd() < SANDBOX_SHARE ? 'SANDBOX' : 'PRODUCTION';
    const plan = env === 'SANDBOX' ? plans[Math.floor(rnd() * plans.length)] : nonMenu[Math.floor(rnd() * nonMenu.length)];
    const op = operators.get(plan.operator);
    const mssidn = op.prefixes[0] + String(Math.floor(rnd() * 1e8)).padStart(8, '0');
    const amountDzd = plan.kind === 'fixed'
      ? plan.amount
      : Math.min(plan.maxAmount, plan.minAmount + Math.floor(rnd() * Math.min(2000, plan.maxAmount - plan.minAmount + 1)));
    const topup = amountDzd * 100;
    const charge = chargeCentimes(topup, plan.costPpm);
    const k = `${isBench ? 'bench' : merchantId}:${env}`;
    const n = (seq.get(k) ?? 0) + 1;
    seq.set(k, n);
    const ref = rnd() < 0.5 ? `INV-${n}` : `API-${isBench ? 'bench0' : merchantId.slice(-6)}-${env === 'SANDBOX' ? 'test-' : ''}${createdAt}-${n.toString(16)}`;
    let status, refundMessage = null, scenario = null;
    if (env === 'SANDBOX') {
      status = 'PENDING'; // sandbox status is derived from the clock at read time
      scenario = plan.isMenu ? 'MENU' : 'FULFILLED';
    } else {
      const r = rnd();
      if (r < 0.9) status = 'FULFILLED';
      else if (r < 0.99) { status = 'REFUNDED'; refundMessage = MESSAGES.WRONG_NUMBER; }
      else { status = 'UNKNOWN_ERROR'; refundMessage = MESSAGES.UNKNOWN_NOTICE; }
    }
    const id = orderId(createdAt, i);
    const updatedAt = createdAt + 1000 + Math.floor(rnd() * 60_000);
    const row = [id, merchantId, env, ref, status, plan.code, mssidn, topup, charge, createdAt, updatedAt, refundMessage, null, null, null, scenario];
    if (env === 'PRODUCTION') row.push(1, createdAt + 200, status === 'UNKNOWN_ERROR' ? null : updatedAt);
    else row.push(0, null, null);
    batch.push(row);
    counts[env]++;
    counts.status[status] = (counts.status[status] ?? 0) + 1;
    if (isBench) {
      counts.bench[env]++;
      if (env === 'PRODUCTION') {
        benchProd++;
        if (sample.length < SAMPLE_IDS) sample.push(id);
        else {
          const j = Math.floor(rnd() * benchProd);
          if (j < SAMPLE_IDS) sample[j] = id;
        }
      }
    }
    if (batch.length === PG_BATCH) {
      await onBatch(batch);
      batch = [];
    }
  }
  if (batch.length > 0) await onBatch(batch);
  // Shuffle so consecutive requests hit unrelated pages.
  for (let i = sample.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [sample[i], sample[j]] = [sample[j], sample[i]];
  }
  return { sampleIds: sample, counts };
}

async function buildSqlite(dbPath, common) {
  const t0 = performance.now();
  const { merchant } = await migrateAndCreateMerchant(dbPath);
  const db = new Database(dbPath);
  db.pragma('journal_mode = OFF'); // a throw-away build: no rollback journal, no fsync
  db.pragma('synchronous = OFF');
  db.pragma('locking_mode = EXCLUSIVE');
  db.pragma('cache_size = -262144');
  const ins = (table, cols) => db.prepare(`INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`);
  const insMerchant = ins('merchants', MERCHANT_COLUMNS);
  const insKey = ins('api_keys', KEY_COLUMNS);
  const insOrder = ins('orders', ORDER_COLUMNS);
  db.transaction(() => {
    for (const m of common.others.merchants) insMerchant.run(...m);
    for (const k of common.others.keys) insKey.run(...k);
  })();
  const insertBatch = db.transaction((rows) => {
    for (const r of rows) insOrder.run(...r);
  });
  const gen = await generateOrders({ ...common, benchId: merchant.id, otherIds: common.others.ids }, (rows) => insertBatch(rows));
  db.exec('ANALYZE');
  const plan = db.prepare('EXPLAIN QUERY PLAN SELECT * FROM orders WHERE id = ? AND merchant_id = ? AND env = ?').all('x', 'y', 'PRODUCTION').map((r) => r.detail);
  db.pragma('locking_mode = NORMAL');
  db.pragma('journal_mode = WAL'); // as shahn runs it
  db.close();
  return { merchant, ...gen, checkIdQueryPlan: plan, bytes: statSync(dbPath).size, buildSeconds: round((performance.now() - t0) / 1000, 1) };
}

async function createDatabase() {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 5000 });
  await c.connect();
  try {
    const existing = await c.query(`SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1`, [PG_DB]);
    if (existing.rows.length > 0) {
      if (existing.rows[0].comment !== DB_COMMENT) {
        throw new Error(`database ${PG_DB} exists and was not made by this benchmark; pick another name with --pg-db`);
      }
      await c.query(`DROP DATABASE ${PG_DB} WITH (FORCE)`); // left over from an interrupted run
    }
    await c.query(`CREATE DATABASE ${PG_DB}`);
    dbCreated = true;
    await c.query(`COMMENT ON DATABASE ${PG_DB} IS '${DB_COMMENT}'`);
    const settings = await c.query(`SELECT name, setting, unit FROM pg_settings
      WHERE name IN ('server_version', 'shared_buffers', 'synchronous_commit', 'fsync', 'max_connections', 'wal_level', 'full_page_writes')`);
    return Object.fromEntries(settings.rows.map((r) => [r.name, r.unit === '8kB' ? `${(Number(r.setting) * 8) / 1024} MiB` : r.setting]));
  } finally {
    await c.end();
  }
}

async function buildPostgres(common) {
  const t0 = performance.now();
  const settings = await createDatabase();
  const { merchant } = await migrateAndCreateMerchant(PG_BENCH_URL);
  const c = new pg.Client({ connectionString: PG_BENCH_URL });
  await c.connect();
  try {
    await c.query('SET synchronous_commit = off'); // the build only
    const insertRows = async (table, cols, rows) => {
      for (let from = 0; from < rows.length; from += PG_BATCH) {
        const chunk = rows.slice(from, from + PG_BATCH);
        const values = [];
        const tuples = chunk.map((r, i) => `(${r.map((v, j) => { values.push(v); return `$${i * cols.length + j + 1}`; }).join(', ')})`);
        await c.query(`INSERT INTO ${table} (${cols.join(', ')}) VALUES ${tuples.join(', ')}`, values);
      }
    };
    await c.query('BEGIN');
    await insertRows('merchants', MERCHANT_COLUMNS, common.others.merchants);
    await insertRows('api_keys', KEY_COLUMNS, common.others.keys);
    const gen = await generateOrders({ ...common, benchId: merchant.id, otherIds: common.others.ids }, (rows) => insertRows('orders', ORDER_COLUMNS, rows));
    await c.query('COMMIT');
    await c.query('VACUUM (ANALYZE) merchants, api_keys, orders'); // statistics, visibility map and hint bits before any read
    const plan = await c.query(`EXPLAIN SELECT * FROM orders WHERE id = $1 AND merchant_id = $2 AND env = $3`, [gen.sampleIds[0], merchant.id, 'PRODUCTION']);
    const size = await c.query('SELECT pg_database_size(current_database())::bigint AS b');
    return { merchant, ...gen, settings, checkIdQueryPlan: plan.rows.map((r) => r['QUERY PLAN'].trim()), bytes: Number(size.rows[0].b), buildSeconds: round((performance.now() - t0) / 1000, 1) };
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    await c.end();
  }
}

// ---------------------------------------------------------------- processes

/** CPU seconds of every process named "postgres" (the server and its backends), by pid. */
function postgresCpu() {
  const out = new Map();
  let pids;
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return null;
  }
  for (const pid of pids) {
    try {
      const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = s.slice(s.indexOf('(') + 1, s.lastIndexOf(')'));
      if (comm !== 'postgres') continue;
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      out.set(pid, (Number(f[11]) + Number(f[12])) / CLK_TCK);
    } catch {
      // gone
    }
  }
  return out;
}
const postgresCpuDelta = (a, b) => {
  if (!a || !b) return null;
  let s = 0;
  for (const [pid, v] of b) s += v - (a.get(pid) ?? 0);
  return s;
};

function shahnEnv(db, name) {
  return {
    ...envWithoutShahn(),
    SHAHN_DB: db,
    PORT: '0',
    HOST: '127.0.0.1',
    SHAHN_RATE_LIMIT: '0', // 64 connections on one key would otherwise be rate limited (default 100/s)
    SHAHN_LOG_LEVEL: 'warn',
    SHAHN_ACCESS_LOG: 'false',
    SHAHN_PROCESSOR: 'false', // no order processor: sends stay PENDING, no background work distorts the figures
    SHAHN_DEMO: 'false',
    SHAHN_SHUTDOWN_GRACE_MS: '3000',
    SHAHN_WORKER_ID: `bench-${name}`,
    ...(PG_POOL !== null && db.startsWith('postgres') ? { SHAHN_PG_POOL_SIZE: String(PG_POOL) } : {}),
  };
}

async function startShahn(db, name) {
  const out = join(tmpDir, `${name}.out`);
  const fd = openSync(out, 'w');
  const env = shahnEnv(db, name);
  const child = spawn(process.execPath, [SHAHN_BIN, 'serve'], { cwd: ROOT, env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  children.add(child);
  const m = await waitForFile(out, /listening on (http:\/\/127\.0\.0\.1:\d+)/, child, 60_000, `shahn (${name})`);
  const shown = Object.fromEntries(Object.entries(env).filter(([k]) => /^(SHAHN_.*|PORT|HOST)$/.test(k)).map(([k, v]) => [k, k === 'SHAHN_DB' ? showUrl(v) : v]));
  return { name, child, url: m[1], out, env: shown };
}

// ---------------------------------------------------------------- load

/** The connections split evenly over the URLs: one autocannon instance per URL, all in parallel. */
async function drive(urls, duration, requestOpts, record) {
  const per = Math.floor(CONNECTIONS / urls.length);
  const runs = await Promise.all(urls.map((url, i) =>
    cannon({ url, duration, connections: i === 0 ? CONNECTIONS - per * (urls.length - 1) : per, ...requestOpts }, record)));
  const status = {};
  let latLen = 0;
  for (const r of runs) {
    for (const [k, v] of Object.entries(r.status)) status[k] = (status[k] ?? 0) + v;
    latLen += r.lat.length;
  }
  const lat = new Float64Array(latLen);
  let off = 0;
  for (const r of runs) {
    lat.set(r.lat, off);
    off += r.lat.length;
  }
  const sum = (f) => runs.reduce((a, r) => a + f(r.res), 0);
  return {
    lat,
    status,
    ok: sum((r) => r['2xx']),
    total: sum((r) => r.requests.total),
    non2xx: sum((r) => r.non2xx),
    errors: sum((r) => r.errors),
    timeouts: sum((r) => r.timeouts),
    bytes: sum((r) => r.throughput.total),
    seconds: Math.max(...runs.map((r) => r.res.duration)),
  };
}

/** CPU used by our children and by PostgreSQL from now until the returned function is called (for waitQuiet). */
function ourCpu() {
  const pgA = postgresCpu();
  const kidsCpu = () => [...children].map((c) => procCpu(c.pid) ?? 0).reduce((x, y) => x + y, 0);
  const kids = kidsCpu();
  return () => kidsCpu() - kids + (postgresCpuDelta(pgA, postgresCpu()) ?? 0);
}

/** One measured phase: warm-up, then DURATION s against `targets` (one or more servers sharing the connections). */
async function phase(label, targets, requestOpts) {
  // Wait (bounded) until the rest of the machine (besides our children and PostgreSQL) uses less than 0.25 of a core.
  const idleOther = await waitQuiet(QUIET_WAIT, ourCpu);
  process.stdout.write(`  ${label.padEnd(24)} ${idleOther !== null && idleOther >= NOISY_CORES ? `(not quiet after ${QUIET_WAIT} s: ${idleOther} cores busy elsewhere) ` : ''}`);
  const urls = targets.map((t) => t.url);
  const pids = targets.map((t) => t.child.pid);
  if (WARMUP > 0) await drive(urls, WARMUP, requestOpts, false);
  const cpu0 = pids.map(procCpu);
  const pg0 = postgresCpu();
  const me0 = process.cpuUsage();
  const sys0 = sysCpu();
  const t0 = performance.now();
  const d = await drive(urls, DURATION, requestOpts, true);
  const wall = (performance.now() - t0) / 1000;
  const cpu1 = pids.map(procCpu);
  const pg1 = postgresCpu();
  const me1 = process.cpuUsage(me0);
  const sys1 = sysCpu();

  const sorted = Float64Array.from(d.lat).sort();
  const serverCpuS = cpu0.some((v) => v === null) || cpu1.some((v) => v === null) ? null : cpu1.reduce((a, v, i) => a + v - cpu0[i], 0);
  const dbCpuS = postgresCpuDelta(pg0, pg1);
  const loadgenCpuS = (me1.user + me1.system) / 1e6;
  let machine = null;
  if (sys0 && sys1) {
    const total = sys1.total - sys0.total;
    const busyCores = ((sys1.busy - sys0.busy) / total) * os.cpus().length;
    machine = {
      otherBefore: idleOther,
      busyCores: round(busyCores, 2),
      stealPct: round(((sys1.steal - sys0.steal) / total) * 100, 1),
      otherCores: serverCpuS === null ? null : round(busyCores - (serverCpuS + loadgenCpuS + (dbCpuS ?? 0)) / wall, 2),
    };
  }
  const r = {
    label,
    processes: targets.length,
    requestsPerSec: round(d.ok / d.seconds, 0),
    ok: d.ok,
    non2xx: d.non2xx,
    errors: d.errors,
    timeouts: d.timeouts,
    statusCodes: d.status,
    seconds: d.seconds,
    latencyMs: {
      p50: round(percentile(sorted, 50), 2),
      p90: round(percentile(sorted, 90), 2),
      p99: round(percentile(sorted, 99), 2),
      max: round(sorted[sorted.length - 1], 2),
    },
    bytesPerResponse: round(d.bytes / Math.max(1, d.total), 0),
    serverCpuCores: serverCpuS === null ? null : round(serverCpuS / wall, 2),
    dbCpuCores: dbCpuS === null ? null : round(dbCpuS / wall, 2),
    loadgenCpuCores: round(loadgenCpuS / wall, 2),
    machine,
  };
  const bad = r.non2xx + r.errors + r.timeouts;
  const codes = Object.entries(r.statusCodes).filter(([k]) => !k.startsWith('2')).map(([k, v]) => `${k}: ${v}`).join(', ');
  log(`${String(r.requestsPerSec).padStart(6)} req/s  p50 ${r.latencyMs.p50} ms  p99 ${r.latencyMs.p99} ms`
    + `${bad ? `  (non-2xx ${r.non2xx}${codes ? ` [${codes}]` : ''}, errors ${r.errors}, timeouts ${r.timeouts})` : ''}`);
  return r;
}

// ---------------------------------------------------------------- main

/** A check-id and a send must both answer 200 on a server before any load. */
async function probe(server, key, id, runTag) {
  const headers = { 'x-access-token': key };
  const res = await fetch(`${server.url}/v3/mobile/check-id/${id}`, { headers });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`${server.name}: check-id probe answered ${res.status}: ${body}`);
  const send = await fetch(`${server.url}/v3/mobile/send`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0770000000', amount: 500, ref: `probe-${runTag}-${server.name}` }),
  });
  const sendBody = await send.text();
  if (send.status !== 200) throw new Error(`${server.name}: send probe answered ${send.status}: ${sendBody}`);
  return { body, requestId: res.headers.get('x-request-id') ?? '', sendBytes: Buffer.byteLength(sendBody) };
}

/** Warn-level (or worse) lines a server printed, and whether it exited cleanly. */
function serverTrouble(server) {
  const text = existsSync(server.out) ? readFileSync(server.out, 'utf8') : '';
  const lines = text.split('\n').filter((l) => {
    if (!l.trim()) return false;
    if (!l.startsWith('{')) return /error|warn|fail/i.test(l);
    try {
      return JSON.parse(l).level >= 40;
    } catch {
      return true;
    }
  });
  return { exitCode: server.child.exitCode ?? server.child.signalCode, lines };
}

async function main() {
  const git = gitInfo();
  const cores = os.cpus().length;
  log(`shahn stores bench: ${git ? `commit ${git.commit}${git.srcChanged ? ' (uncommitted changes in src/ or packages/)' : ''}, ` : ''}node ${process.version}, `
    + `${cores} CPUs (${os.cpus()[0]?.model ?? '?'}), load average ${os.loadavg().map((v) => v.toFixed(2)).join(' ')}`);

  tmpDir = mkdtempSync(join(os.tmpdir(), 'shahn-stores-'));
  const sqlitePath = join(tmpDir, 'shahn.db');

  // The catalogue as shahn loads it (the same file goes into both stores through `shahn migrate`).
  const scratch = join(tmpDir, 'catalogue.db');
  await shahnCli(scratch, 'migrate');
  const cat = openSqliteStore(scratch);
  const plans = (await cat.listPlans()).filter((p) => p.isEnabled);
  const operators = new Map((await cat.listOperators()).map((o) => [o.name, o]));
  await cat.close();
  rmSync(scratch, { force: true });
  const now = Date.now();
  const common = { now, plans, operators, others: otherMerchants(now) };

  log(`building: ${ORDERS.toLocaleString('en')} orders over ${MERCHANTS} merchants, the same rows in both stores`);
  const sqlite = await buildSqlite(sqlitePath, common);
  log(`  SQLite:     ${sqlite.buildSeconds} s, ${(sqlite.bytes / 2 ** 20).toFixed(0)} MiB (${tmpDir}); check-id plan: ${sqlite.checkIdQueryPlan.join(' | ')}`);
  const postgres = await buildPostgres(common);
  log(`  PostgreSQL: ${postgres.buildSeconds} s, ${(postgres.bytes / 2 ** 20).toFixed(0)} MiB (database ${PG_DB} at ${showUrl(PG_BENCH_URL)}, multi-row INSERTs of ${PG_BATCH}); check-id plan: ${postgres.checkIdQueryPlan.join(' | ')}`);
  log(`  PostgreSQL: ${Object.entries(postgres.settings).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  const { counts, sampleIds } = sqlite;
  if (sampleIds.join() !== postgres.sampleIds.join()) throw new Error('the two stores got different sample ids: the generator is not deterministic');
  log(`  each store: ${counts.PRODUCTION.toLocaleString('en')} production + ${counts.SANDBOX.toLocaleString('en')} sandbox orders; the benchmarked merchant `
    + `(from \`shahn merchant create --json\`, ${BENCH_BALANCE_DZD.toLocaleString('en')} DZD) has ${counts.bench.PRODUCTION.toLocaleString('en')} production orders; `
    + `check-id rotates over ${sampleIds.length.toLocaleString('en')} of them`);

  const [sqliteSrv, pgA, pgB] = [
    await startShahn(sqlitePath, 'sqlite'),
    await startShahn(PG_BENCH_URL, 'pg-a'),
    await startShahn(PG_BENCH_URL, 'pg-b'),
  ];
  const runTag = Date.now().toString(36);
  const probes = {
    sqlite: await probe(sqliteSrv, sqlite.merchant.productionKey, sampleIds[0], runTag),
    pgA: await probe(pgA, postgres.merchant.productionKey, sampleIds[0], runTag),
    pgB: await probe(pgB, postgres.merchant.productionKey, sampleIds[0], runTag),
  };
  const baseline = await startBaseline(probes.sqlite.body, probes.sqlite.requestId, { dir: tmpDir, children });
  const checkIdBytes = { sqlite: Buffer.byteLength(probes.sqlite.body), postgres: Buffer.byteLength(probes.pgA.body) };
  log(`servers: baseline ${baseline.url} (node:http, the same ${checkIdBytes.sqlite}-byte check-id body); shahn serve on SQLite ${sqliteSrv.url}; `
    + `on PostgreSQL ${pgA.url} and ${pgB.url}`);
  if (checkIdBytes.sqlite !== checkIdBytes.postgres) log(`  note: check-id bodies differ in size: SQLite ${checkIdBytes.sqlite} B, PostgreSQL ${checkIdBytes.postgres} B`);
  log(`shahn env (each process): SHAHN_RATE_LIMIT=0 SHAHN_LOG_LEVEL=warn SHAHN_ACCESS_LOG=false SHAHN_PROCESSOR=false SHAHN_DEMO=false`
    + `${PG_POOL !== null ? ` SHAHN_PG_POOL_SIZE=${PG_POOL}` : ' (PostgreSQL pool: the default SHAHN_PG_POOL_SIZE=10 per process)'}`);
  log('  the rate limiter, the access log and the order processor are off, so background work (processor polling, simulated');
  log('  operator calls, log I/O) does not distort the figures: sends are accepted and stay PENDING.');
  log(`load: autocannon from this process (pid ${process.pid}), ${CONNECTIONS} connections (x2 rows: ${CONNECTIONS / 2} + ${CONNECTIONS / 2} on two processes, in parallel), `
    + `${WARMUP} s warm-up then ${DURATION} s measured per phase, ${ROUNDS} round(s), medians reported`);
  log(`machine: ${cores} cores shared by the load generator, the API process(es) and PostgreSQL; the x2 rows compete with the load`);
  log('  generator and PostgreSQL for the same cores, so they show contention here, not how a second process scales on a bigger host.\n');

  // Request shapes: check-id rotates over the sample ids (the baseline too, so the load generator does the same work).
  const ids = sampleIds;
  let next = 0;
  const checkIdOpts = (key) => ({
    headers: { 'x-access-token': key },
    requests: [{ method: 'GET', setupRequest: (req) => ({ ...req, path: `/v3/mobile/check-id/${ids[next++ % ids.length]}` }) }],
  });
  let sendSeq = 0;
  const sendOpts = (key) => ({
    headers: { 'x-access-token': key, 'content-type': 'application/json' },
    requests: [{
      method: 'POST',
      path: '/v3/mobile/send',
      setupRequest: (req) => {
        const n = sendSeq++;
        return { ...req, body: `{"plan_code":"PREPAID_DJEZZY","MSSIDN":"07${String(n % 1e8).padStart(8, '0')}","amount":500,"ref":"bench-${runTag}-${n}"}` };
      },
    }],
  });

  const ROWS = [
    { id: 'baseline', label: 'baseline (node:http)', kind: 'baseline', store: null, targets: [baseline], opts: checkIdOpts(sqlite.merchant.productionKey) },
    { id: 'check-id/sqlite', label: 'check-id  SQLite', kind: 'check-id', store: 'sqlite', targets: [sqliteSrv], opts: checkIdOpts(sqlite.merchant.productionKey) },
    { id: 'check-id/pg-x1', label: 'check-id  PostgreSQL x1', kind: 'check-id', store: 'postgres', targets: [pgA], opts: checkIdOpts(postgres.merchant.productionKey) },
    { id: 'check-id/pg-x2', label: 'check-id  PostgreSQL x2', kind: 'check-id', store: 'postgres', targets: [pgA, pgB], opts: checkIdOpts(postgres.merchant.productionKey) },
    { id: 'send/sqlite', label: 'send      SQLite', kind: 'send', store: 'sqlite', targets: [sqliteSrv], opts: sendOpts(sqlite.merchant.productionKey) },
    { id: 'send/pg-x1', label: 'send      PostgreSQL x1', kind: 'send', store: 'postgres', targets: [pgA], opts: sendOpts(postgres.merchant.productionKey) },
    { id: 'send/pg-x2', label: 'send      PostgreSQL x2', kind: 'send', store: 'postgres', targets: [pgA, pgB], opts: sendOpts(postgres.merchant.productionKey) },
  ];
  const row = Object.fromEntries(ROWS.map((r) => [r.id, r]));

  const rounds = [];
  for (let i = 1; i <= ROUNDS; i++) {
    log(`round ${i} of ${ROUNDS}`);
    const reverse = i % 2 === 0; // alternate the store order so a slow drift does not favour one store
    const r = { baselines: [], results: {}, ratios: {} };
    for (const kind of ['check-id', 'send']) {
      const base = await phase(`baseline (${kind} group)`, row.baseline.targets, row.baseline.opts);
      r.baselines.push(base);
      const group = ROWS.filter((x) => x.kind === kind);
      for (const target of reverse ? [...group].reverse() : group) {
        const res = await phase(target.label, target.targets, target.opts);
        r.results[target.id] = res;
        r.ratios[target.id] = round(res.requestsPerSec / base.requestsPerSec, 3); // paired with the baseline just before its group
      }
      r.ratios[`${kind}/pg-x2-vs-x1`] = round(r.results[`${kind}/pg-x2`].requestsPerSec / r.results[`${kind}/pg-x1`].requestsPerSec, 3);
    }
    r.noisy = [...r.baselines, ...Object.values(r.results)].some((p) => (p.machine?.otherCores ?? 0) >= NOISY_CORES);
    rounds.push(r);
  }

  for (const s of [baseline, sqliteSrv, pgA, pgB]) await stopChild(children, s.child, 10_000);
  const trouble = Object.fromEntries([sqliteSrv, pgA, pgB].map((s) => [s.name, serverTrouble(s)]));

  // ---- medians over the rounds (all rounds; the noise column says how busy the rest of the machine was)
  const summarize = (phases) => ({
    requestsPerSec: round(median(phases.map((p) => p.requestsPerSec)), 0),
    p50: round(median(phases.map((p) => p.latencyMs.p50)), 2),
    p99: round(median(phases.map((p) => p.latencyMs.p99)), 2),
    serverCpuCores: round(median(phases.map((p) => p.serverCpuCores)), 2),
    dbCpuCores: round(median(phases.map((p) => p.dbCpuCores)), 2),
    loadgenCpuCores: round(median(phases.map((p) => p.loadgenCpuCores)), 2),
    otherCores: round(median(phases.map((p) => p.machine?.otherCores)), 2),
    failed: phases.reduce((a, p) => a + p.non2xx + p.errors + p.timeouts, 0),
    non2xx: phases.reduce((a, p) => a + p.non2xx, 0),
    errors: phases.reduce((a, p) => a + p.errors, 0),
    timeouts: phases.reduce((a, p) => a + p.timeouts, 0),
    statusCodes: phases.reduce((acc, p) => {
      for (const [k, v] of Object.entries(p.statusCodes)) acc[k] = (acc[k] ?? 0) + v;
      return acc;
    }, {}),
    measurements: phases.length,
  });
  const results = {};
  results.baseline = { ...summarize(rounds.flatMap((r) => r.baselines)), label: row.baseline.label, processes: 1, ratioToBaseline: 1 };
  for (const t of ROWS.slice(1)) {
    results[t.id] = { ...summarize(rounds.map((r) => r.results[t.id])), label: t.label, processes: t.targets.length, ratioToBaseline: round(median(rounds.map((r) => r.ratios[t.id])), 2) };
  }
  const twoVsOne = {
    checkId: round(median(rounds.map((r) => r.ratios['check-id/pg-x2-vs-x1'])), 2),
    send: round(median(rounds.map((r) => r.ratios['send/pg-x2-vs-x1'])), 2),
  };

  // ---- table
  const header = `${'row'.padEnd(24)}${col('procs', 6)}${col('req/s', 8)}${col('p50 ms', 9)}${col('p99 ms', 9)}${col('x base', 8)}${col('srv CPU', 9)}${col('pg CPU', 8)}${col('failed', 8)}${col('noise', 7)}`;
  const line = (r, ratio) => `${r.label.padEnd(24)}${col(r.processes, 6)}${col(r.requestsPerSec, 8)}${col(r.p50?.toFixed(2), 9)}${col(r.p99?.toFixed(2), 9)}`
    + `${col(ratio?.toFixed(2), 8)}${col(r.serverCpuCores?.toFixed(2), 9)}${col(r.dbCpuCores?.toFixed(2), 8)}${col(r.failed, 8)}${col(r.otherCores?.toFixed(2), 7)}`;
  if (ROUNDS > 1) {
    for (const [i, r] of rounds.entries()) {
      log(`\nround ${i + 1}${r.noisy ? ` (noisy: other processes used >= ${NOISY_CORES} cores in a phase)` : ''}`);
      log(header);
      for (const [j, b] of r.baselines.entries()) log(line({ ...b, label: `baseline (${j === 0 ? 'check-id' : 'send'} grp)`, p50: b.latencyMs.p50, p99: b.latencyMs.p99, failed: b.non2xx + b.errors + b.timeouts, otherCores: b.machine?.otherCores }, 1));
      for (const t of ROWS.slice(1)) {
        const p = r.results[t.id];
        log(line({ ...p, label: t.label, p50: p.latencyMs.p50, p99: p.latencyMs.p99, failed: p.non2xx + p.errors + p.timeouts, otherCores: p.machine?.otherCores }, r.ratios[t.id]));
      }
      log(`PostgreSQL x2 / x1: check-id ${r.ratios['check-id/pg-x2-vs-x1']}, send ${r.ratios['send/pg-x2-vs-x1']}`);
    }
  }
  const noisyRounds = rounds.filter((r) => r.noisy).length;
  log(`\n${ROUNDS > 1 ? `median of ${ROUNDS} rounds` : '1 round'} (${ORDERS.toLocaleString('en')} orders per store${noisyRounds ? `; ${noisyRounds} of ${ROUNDS} round(s) noisy: other processes used >= ${NOISY_CORES} cores in a phase` : ''})`);
  log(header);
  log(line(results.baseline, 1));
  for (const t of ROWS.slice(1)) log(line(results[t.id], results[t.id].ratioToBaseline));
  log(`PostgreSQL 2 processes vs 1 (req/s): check-id x${twoVsOne.checkId?.toFixed(2)}, send x${twoVsOne.send?.toFixed(2)}`);
  log(`  x base: req/s / the baseline measured just before, per round, then the median; baseline row: median of all ${rounds.length * 2} baseline phases`);
  log('  latency: per-response hrtime in the load generator; srv CPU: the API process(es), in cores; pg CPU: all processes named');
  log('  postgres on the machine, in cores; failed: non-2xx + errors + timeouts; noise: cores busy outside the servers, PostgreSQL and autocannon');
  log(`  ${cores} cores: autocannon (this process), the API process(es) and PostgreSQL share them; x2 competes with both for CPU.`);

  // ---- anomalies
  const anomalies = [];
  for (const [id, r] of Object.entries(results)) {
    if (r.failed > 0) {
      const codes = Object.entries(r.statusCodes).filter(([k]) => !k.startsWith('2')).map(([k, v]) => `${k}: ${v}`).join(', ');
      anomalies.push(`${id}: ${r.failed} failed (non-2xx ${r.non2xx}${codes ? ` [${codes}]` : ''}, errors ${r.errors}, timeouts ${r.timeouts})`);
    }
  }
  for (const [name, t] of Object.entries(trouble)) {
    if (t.exitCode !== 0) anomalies.push(`${name}: shahn exited with ${t.exitCode}`);
    if (t.lines.length > 0) anomalies.push(`${name}: ${t.lines.length} warn/error line(s), last: ${t.lines.at(-1).slice(0, 300)}`);
  }
  log(anomalies.length ? `\nanomalies:\n${anomalies.map((a) => `  ${a}`).join('\n')}` : '\nanomalies: none (no failed request, no server warning)');

  const out = {
    at: new Date().toISOString(),
    git,
    node: process.version,
    cpus: cores,
    cpuModel: os.cpus()[0]?.model,
    loadAverage: os.loadavg(),
    options: { orders: ORDERS, merchants: MERCHANTS, duration: DURATION, warmup: WARMUP, connections: CONNECTIONS, rounds: ROUNDS, quietWait: QUIET_WAIT, pgDb: PG_DB, pgPool: PG_POOL ?? 10 },
    serverEnv: { sqlite: sqliteSrv.env, postgres: [pgA.env, pgB.env] },
    stores: {
      sqlite: { bytes: sqlite.bytes, buildSeconds: sqlite.buildSeconds, checkIdQueryPlan: sqlite.checkIdQueryPlan },
      postgres: { bytes: postgres.bytes, buildSeconds: postgres.buildSeconds, checkIdQueryPlan: postgres.checkIdQueryPlan, settings: postgres.settings },
      counts,
      sampleIds: sampleIds.length,
    },
    responseBytes: { checkId: checkIdBytes, send: { sqlite: probes.sqlite.sendBytes, postgres: probes.pgA.sendBytes } },
    results,
    twoVsOneProcess: twoVsOne,
    rounds,
    anomalies,
    serverWarnings: Object.fromEntries(Object.entries(trouble).map(([k, v]) => [k, { exitCode: v.exitCode, lines: v.lines.slice(-20) }])),
  };
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, 'stores.json'), `${JSON.stringify(out, null, 2)}\n`);
  log(`\nresults: ${join(RESULTS_DIR, 'stores.json')}`);
  return Object.values(results).some((r) => r.failed > 0) ? 1 : 0;
}

runMain(main, cleanup);
