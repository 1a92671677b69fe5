#!/usr/bin/env node
/**
 * check-id / send throughput benchmark of shahn against a plain node:http baseline, driven by wrk.
 *
 *   npm run build && node bench/check-id.mjs [--orders N] [--duration S] [--warmup S] [--connections C] [--threads T]
 *                                             [--rounds R] [--merchants M] [--poll-orders N] [--quiet-wait S]
 *                                             [--only baseline,check-id,poll,sandbox-poll,send,proxy,metrics,no-log]
 *                                             [--no-access-log] [--no-processor] [--check-id-cache N] [--trust-proxy V]
 *                                             [--pin] [--bracket S] [--cpu-prof] [--profile-top N] [--load wrk|autocannon] [--rebuild]
 *
 * One run: build (or reuse from bench/.cache/) a SQLite store of N orders, copy it to a temp dir,
 * start a baseline node:http server and `node bin/shahn.js serve` as child processes on loopback (shahn
 * in its default configuration but for SHAHN_RATE_LIMIT=0: access log on, the order processor running),
 * drive each with wrk (a child process; one thread, 64 connections, a Lua script for the request variety
 * and the report), and print a table and PASS/FAIL per target; results go to bench/results/latest.json.
 * Phases: baseline (node:http, the check-id body), check-id (production FULFILLED orders), poll
 * (production orders still open), sandbox-poll (sandbox orders still open), send (production, a new ref
 * per request), proxy (check-id of FULFILLED orders on a server started with SHAHN_TRUST_PROXY=1, each
 * request carrying X-Forwarded-For), metrics (check-id on a server serving metrics) and no-log (check-id
 * with SHAHN_ACCESS_LOG=false: what the access line costs). For each: requests/s, p50/p90/p99, the server's CPU per request
 * and cores (/proc), wrk's cores, failures by status. A round whose baseline server used < 0.9 of a core
 * was limited by the client (or the machine), not the server: its ratios are shown but not counted.
 * Without wrk (after trying scripts/ensure-debian-packages.sh wrk) autocannon in this process is the
 * fallback, and its ratios may be client-bound. Each shahn phase runs between two short baseline runs
 * (--bracket S, 3 s each): its ratios are taken against their mean, and a phase whose two bracketing
 * runs cost more than 20% apart per request is left out of the medians when steadier rounds exist.
 * With --rounds R every phase runs R times in turn and the medians are reported (ratios are taken
 * within a round). Each round starts from a new copy of the cached
 * store, and send runs last in it: the orders a send phase leaves open would otherwise be a backlog for
 * the order processor of every phase after it. Before each phase it waits up to --quiet-wait
 * seconds for other processes to go quiet; rounds in which others still used >= 0.25 cores are left out
 * of the medians when quiet rounds exist. The baseline runs again at the end of each round: a round whose
 * two baselines cost more than 20% apart per request ran on a machine that changed speed under it (a
 * neighbour on the host, a frequency change: nothing /proc shows as another process). With --bracket 0
 * such a round is left out of the medians the same way; with bracketing it counts, phase by phase.
 * Exit code: 0 every target passes, 1 a target fails, 2 the run broke, 3 none failed but some could not be
 * counted (client-bound).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import {
  closeSync, copyFileSync, constants as fsc, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync,
  readdirSync, renameSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import {
  benchArgs, BENCH_BALANCE_DZD, BENCH_SHARE, BENCH_USERNAME, MESSAGES, NOISY_CORES, ROOT, SAMPLE_IDS, SANDBOX_SHARE, WRK_LUA_REPORT, cannon, col, dist,
  ensureWrk, envWithoutShahn, gitInfo, intArg, killChildrenNow, loadAutocannon, median, orderId, percentile, round,
  onCpu, procCpuSplit, runMain, runWrk, startBaseline, stopChild, sysCpu, waitForFile, waitQuiet,
} from './lib.mjs';
import { formatSummary, profileFiles, summarizeProfile } from './profile-summary.mjs';

// The compiled server (npm run build).
const { openSqliteStore } = await dist('store/sqlite/open-sqlite-store.js');
const { prepareStore } = await dist('runtime/open-store.js');
const { createMerchant } = await dist('domain/create-merchant.js');
const { MIGRATIONS } = await dist('store/migrations.js');
const { chargeCentimes } = await dist('lib/money.js');
const { hashApiKey } = await dist('lib/ids.js');
// The simulator's seeded generator: the same rows on every run.
const { seededRandom: mulberry32 } = await dist('gateways/operator-simulator.js');
const { DEFAULT_CATALOGUE_PATH } = await dist('catalogue/load-catalogue-file.js');

const CACHE_DIR = join(ROOT, 'bench', '.cache');
const RESULTS_DIR = join(ROOT, 'bench', 'results');
/** Bump when the generated data changes; the schema and the catalogue are hashed in as well. */
const GENERATOR_VERSION = 'gen-4';
const TARGETS = {
  /** check-id req/s of each check-id phase, as a share of the baseline's in the same round. */
  checkIdRatio: 0.6,
  /** p99 of each check-id phase at most this many times the baseline's p99 in the same round. */
  p99VsBaseline: 3,
  /** production send req/s as a share of the baseline's. */
  sendRatio: 0.35,
  /** Serving metrics (SHAHN_METRICS_PORT) may add at most this share to check-id's CPU per request. */
  metricsCost: 0.05,
  /** A baseline server below this many cores was not the bottleneck: the round's ratios are client-bound. */
  minBaselineCores: 0.9,
  /** A round whose end-of-round baseline costs more than this share more or less per request than its first one drifted. */
  maxBaselineDrift: 0.2,
};
/** The phases, in the order they run in a round. */
const PHASES = ['baseline', 'check-id', 'poll', 'sandbox-poll', 'send', 'proxy', 'metrics', 'no-log'];
/** The phases held to the check-id targets. */
const CHECK_ID_PHASES = ['check-id', 'poll', 'sandbox-poll', 'proxy'];
const PHASE_INFO = {
  baseline: 'node:http answering the check-id body (same wrk script as check-id)',
  'check-id': 'GET check-id, production FULFILLED orders (about 18,000 rotated)',
  poll: 'GET check-id, production orders still open (PENDING, HANDLING)',
  'sandbox-poll': 'GET check-id, sandbox orders still open (< 15 s old)',
  send: 'POST send, production, a new ref per request',
  proxy: 'GET check-id as check-id, SHAHN_TRUST_PROXY set, X-Forwarded-For per request',
  metrics: 'GET check-id as check-id, on a server started with SHAHN_METRICS_PORT (requests timed and counted)',
  'no-log': 'GET check-id as check-id, on a server started with SHAHN_ACCESS_LOG=false (what the access line costs; no target)',
};

// ---------------------------------------------------------------- arguments

const args = benchArgs(import.meta.url, {
  orders: { type: 'string', default: '1000000' },
  duration: { type: 'string', default: '10' },
  warmup: { type: 'string', default: '2' },
  connections: { type: 'string', default: '64' },
  threads: { type: 'string', default: '1' },
  rounds: { type: 'string', default: '1' },
  'quiet-wait': { type: 'string', default: '20' },
  merchants: { type: 'string', default: '1000' },
  only: { type: 'string', default: PHASES.join(',') },
  'poll-orders': { type: 'string', default: '3000' },
  'access-log': { type: 'boolean', default: true }, // the default; kept so older command lines still work
  'no-access-log': { type: 'boolean', default: false },
  'cpu-prof': { type: 'boolean', default: false },
  'profile-top': { type: 'string', default: '15' },
  'check-id-cache': { type: 'string' },
  'no-processor': { type: 'boolean', default: false },
  pin: { type: 'boolean', default: false },
  bracket: { type: 'string', default: '3' },
  'trust-proxy': { type: 'string', default: '1' },
  load: { type: 'string', default: 'wrk' },
  rebuild: { type: 'boolean', default: false },
});
const ORDERS = intArg(args, 'orders', 1_000, 20_000_000);
const DURATION = intArg(args, 'duration', 1, 600);
const WARMUP = intArg(args, 'warmup', 0, 60);
const CONNECTIONS = intArg(args, 'connections', 1, 1024);
const THREADS = intArg(args, 'threads', 1, 64);
const MERCHANTS = intArg(args, 'merchants', 1, 100_000);
const ROUNDS = intArg(args, 'rounds', 1, 10);
const POLL_ORDERS = intArg(args, 'poll-orders', 1, 100_000);
const QUIET_WAIT = intArg(args, 'quiet-wait', 0, 600);
const PROFILE_TOP = intArg(args, 'profile-top', 1, 200);
const ONLY = new Set(args.only.split(',').map((s) => s.trim()).filter(Boolean));
for (const name of ONLY) {
  if (!PHASES.includes(name)) {
    console.error(`--only takes ${PHASES.join(', ')}; got "${name}"`);
    process.exit(2);
  }
}
if (!['wrk', 'autocannon'].includes(args.load)) {
  console.error(`--load takes wrk or autocannon, got "${args.load}"`);
  process.exit(2);
}
const ACCESS_LOG = !args['no-access-log'];
const CPU_PROF = args['cpu-prof'];
/** SHAHN_CHECK_ID_CACHE for the server (FULFILLED orders answered without a store read); 0 = every check-id reads SQLite. */
const CHECK_ID_CACHE = args['check-id-cache'] === undefined ? undefined : String(intArg(args, 'check-id-cache', 0, 10_000_000));
const NO_PROCESSOR = args['no-processor'];
/**
 * --pin: each server on CPU 0 and wrk on CPU 1 (taskset), so that the scheduler cannot put the load
 * generator beside the server on one core in some rounds and not in others.
 */
const PIN = args.pin && os.cpus().length >= 2;
const SERVER_CPU = PIN ? 0 : undefined;
const LOAD_CPU = PIN ? 1 : undefined;
/**
 * --bracket S: the baseline measured for S seconds just before each shahn phase (before its preparation)
 * and again just after its measured run; the phase's ratios are taken against the mean of the two. These
 * shared machines change speed within minutes (the same build measured 27 and 43 µs per check-id in
 * consecutive one-minute runs, every part of the profile slower by the same factor), so a baseline
 * measured at the start of a ten-minute round is a poor partner for a phase at its end. 0: against the
 * round's first baseline, as without it.
 */
const BRACKET = intArg(args, 'bracket', 0, 60);
/** SHAHN_TRUST_PROXY of the proxy phase (config.ts refuses `true`: a number of proxies or their addresses). */
const TRUST_PROXY = args['trust-proxy'];

const log = (...a) => console.log(...a);

// ---------------------------------------------------------------- the load generator

/** wrk, unless it cannot be had (or --load autocannon): then autocannon in this process. */
const USE_WRK = args.load === 'wrk' && ensureWrk(log);
const LOADGEN_NOTE = USE_WRK
  ? null
  : `autocannon runs in this process${args.load === 'wrk' ? ' because wrk is missing (scripts/ensure-debian-packages.sh wrk could not install it)' : ' (--load autocannon)'}: `
    + 'on a small machine it saturates before a node:http server does, so these ratios may be client-bound (the baseline capped, every ratio inflated).';
if (!USE_WRK) await loadAutocannon();

// ---------------------------------------------------------------- children and cleanup

const children = new Set();
let tmpDir;
let cleaningUp = false;

async function cleanup() {
  if (cleaningUp) return;
  cleaningUp = true;
  await Promise.all([...children].map((c) => stopChild(children, c, 5_000)));
  if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
}
process.on('exit', () => {
  killChildrenNow(children);
  if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    console.error(`\n${sig}: stopping children`);
    cleanup().finally(() => process.exit(130));
  });
}

// A hard bound on the whole run: build + start-up + every phase, with room to spare.
const phaseCount = PHASES.filter((p) => ONLY.has(p)).length;
const HARD_LIMIT_MS = (30 * 60 + ROUNDS * phaseCount * (WARMUP + DURATION + QUIET_WAIT + 60) + 120) * 1000;
setTimeout(() => {
  console.error(`benchmark exceeded its hard limit of ${Math.round(HARD_LIMIT_MS / 1000)} s; killing children`);
  killChildrenNow(children);
  process.exit(2);
}, HARD_LIMIT_MS).unref();

// ---------------------------------------------------------------- data generation

function cacheKey() {
  const h = createHash('sha256');
  h.update(GENERATOR_VERSION);
  for (const m of MIGRATIONS) h.update(`${m.version}:${m.sqlite}`);
  h.update(readFileSync(DEFAULT_CATALOGUE_PATH));
  h.update(`${ORDERS}:${MERCHANTS}:${BENCH_SHARE}:${SANDBOX_SHARE}:${SAMPLE_IDS}`);
  return `${GENERATOR_VERSION}-o${ORDERS}-m${MERCHANTS}-${h.digest('hex').slice(0, 12)}`;
}

async function buildStore(dbPath) {
  const t0 = performance.now();
  const rnd = mulberry32(20_260_101);
  const clock = { now: () => Date.now() };

  // Schema and catalogue through shahn itself; the benchmarked merchant through createMerchant (real keys).
  const store = openSqliteStore(dbPath);
  await prepareStore(store);
  const bench = await createMerchant({ store, clock }, { username: BENCH_USERNAME, balance: BENCH_BALANCE_DZD });
  const plans = (await store.catalogue.listPlans()).filter((p) => p.isEnabled);
  const operators = new Map((await store.catalogue.listOperators()).map((o) => [o.name, o]));
  await store.close();

  const db = new Database(dbPath);
  db.pragma('journal_mode = OFF'); // a throw-away build: no rollback journal, no fsync
  db.pragma('synchronous = OFF');
  db.pragma('locking_mode = EXCLUSIVE');
  db.pragma('cache_size = -524288'); // 512 MiB page cache during the build
  db.pragma('temp_store = MEMORY');

  // Other merchants: balance 0 (the merchant_starts_at_zero trigger), two keys each like real ones.
  const now = Date.now();
  const merchantIds = [];
  const insertMerchant = db.prepare('INSERT INTO merchants (id, username, balance, created_at) VALUES (?, ?, 0, ?)');
  const insertKey = db.prepare(`INSERT INTO api_keys (id, merchant_id, key_hash, type, scope, is_enabled, allowed_ips, created_at)
                                VALUES (?, ?, ?, ?, 'READ-WRITE', 1, '[]', ?)`);
  db.transaction(() => {
    for (let m = 1; m < MERCHANTS; m++) {
      const createdAt = now - 400 * 86_400_000 + m * 1000;
      const id = Math.floor(createdAt / 1000).toString(16).padStart(8, '0') + 'a1' + m.toString(16).padStart(14, '0');
      insertMerchant.run(id, `+21366${String(m).padStart(7, '0')}`, createdAt);
      for (const type of ['SANDBOX', 'PRODUCTION']) {
        insertKey.run(id + type[0], id, hashApiKey(`bench-${id}-${type}`), type, createdAt);
      }
      merchantIds.push(id);
    }
  })();

  // Orders: a year of history, increasing created_at and ids (as a live system writes them). Every
  // production order is final (processed long ago), so the order processor finds nothing to claim;
  // the processor's bookkeeping columns are filled when the schema has them.
  const columns = new Set(db.prepare('PRAGMA table_info(orders)').all().map((c) => c.name));
  const processed = ['attempts', 'call_started_at', 'final_at'].every((c) => columns.has(c));
  const insertOrder = db.prepare(`INSERT INTO orders
    (id, merchant_id, env, ref, status, plan_code, mssidn, topup_amount, charge, created_at, updated_at,
     refund_message, suggested_offers, follow_orderid, retry_orderid, sandbox_scenario${processed ? ', attempts, call_started_at, final_at' : ''})
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?${processed ? ', ?, ?, ?' : ''})`);
  const nonMenu = plans.filter((p) => !p.isMenu);
  const start = now - 365 * 86_400_000;
  const step = (365 * 86_400_000 - 3_600_000) / ORDERS;
  const seq = new Map();
  const sample = []; // reservoir of the bench merchant's production order ids
  let benchProd = 0;
  const counts = { PRODUCTION: 0, SANDBOX: 0, bench: { PRODUCTION: 0, SANDBOX: 0 }, status: {} };
  const BATCH = 100_000;
  const insertBatch = db.transaction((from, to) => {
    for (let i = from; i < to; i++) {
      const createdAt = Math.floor(start + i * step + rnd() * step);
      const isBench = rnd() < BENCH_SHARE;
      const merchantId = isBench || merchantIds.length === 0 ? bench.id : merchantIds[Math.floor(rnd() * merchantIds.length)];
      const env = rnd() < SANDBOX_SHARE ? 'SANDBOX' : 'PRODUCTION';
      const plan = env === 'SANDBOX' ? plans[Math.floor(rnd() * plans.length)] : nonMenu[Math.floor(rnd() * nonMenu.length)];
      const op = operators.get(plan.operator);
      const mssidn = op.prefixes[0] + String(Math.floor(rnd() * 1e8)).padStart(8, '0');
      const amountDzd = plan.kind === 'fixed'
        ? plan.amount
        : Math.min(plan.maxAmount, plan.minAmount + Math.floor(rnd() * Math.min(2000, plan.maxAmount - plan.minAmount + 1)));
      const topup = amountDzd * 100;
      const charge = chargeCentimes(topup, plan.costPpm);
      const k = `${merchantId}:${env}`;
      const n = (seq.get(k) ?? 0) + 1;
      seq.set(k, n);
      const ref = rnd() < 0.5 ? `INV-${n}` : `API-${merchantId.slice(-6)}-${env === 'SANDBOX' ? 'test-' : ''}${createdAt}-${n.toString(16)}`;
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
      if (processed) {
        if (env === 'PRODUCTION') row.push(1, createdAt + 200, status === 'UNKNOWN_ERROR' ? null : updatedAt);
        else row.push(0, null, null);
      }
      insertOrder.run(...row);
      counts[env]++;
      counts.status[status] = (counts.status[status] ?? 0) + 1;
      if (merchantId === bench.id) {
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
    }
  });
  for (let from = 0; from < ORDERS; from += BATCH) {
    insertBatch(from, Math.min(ORDERS, from + BATCH));
    const done = `  orders: ${Math.min(ORDERS, from + BATCH).toLocaleString('en')} / ${ORDERS.toLocaleString('en')}`;
    if (process.stdout.isTTY) process.stdout.write(`\r${done}`);
    else if (from + BATCH >= ORDERS) process.stdout.write(done);
  }
  process.stdout.write('\n');
  const plan = db.prepare('EXPLAIN QUERY PLAN SELECT * FROM orders WHERE id = ? AND merchant_id = ? AND env = ?').all('x', 'y', 'PRODUCTION');
  db.pragma('locking_mode = NORMAL');
  db.pragma('journal_mode = WAL'); // as shahn runs it
  db.close();

  // Shuffle so consecutive requests hit unrelated pages.
  for (let i = sample.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [sample[i], sample[j]] = [sample[j], sample[i]];
  }
  return {
    bench,
    sampleIds: sample,
    counts,
    merchants: MERCHANTS,
    checkIdQueryPlan: plan.map((r) => r.detail),
    buildSeconds: (performance.now() - t0) / 1000,
  };
}

/**
 * The cached store for these parameters, built when missing. Returns a private copy for this run, and
 * `resetStore()`, which makes that copy new again (with no WAL) while no server has it open.
 */
async function storeForRun() {
  const key = cacheKey();
  const cachedDb = join(CACHE_DIR, `${key}.db`);
  const cachedMeta = join(CACHE_DIR, `${key}.json`);
  let meta;
  if (!args.rebuild && existsSync(cachedDb) && existsSync(cachedMeta)) {
    meta = JSON.parse(readFileSync(cachedMeta, 'utf8'));
    if (meta.dbBytes !== statSync(cachedDb).size) meta = undefined;
  }
  if (meta) {
    log(`store: cached ${cachedDb}`);
  } else {
    log(`store: building ${ORDERS.toLocaleString('en')} orders over ${MERCHANTS} merchants (cache key ${key})`);
    const buildDir = mkdtempSync(join(os.tmpdir(), 'shahn-bench-build-'));
    try {
      const buildDb = join(buildDir, 'orders.db');
      meta = await buildStore(buildDb);
      meta.key = key;
      meta.orders = ORDERS;
      meta.dbBytes = statSync(buildDb).size;
      mkdirSync(CACHE_DIR, { recursive: true });
      copyFileSync(buildDb, `${cachedDb}.tmp`);
      renameSync(`${cachedDb}.tmp`, cachedDb);
      writeFileSync(cachedMeta, JSON.stringify(meta));
      log(`store: built in ${meta.buildSeconds.toFixed(1)} s, ${(meta.dbBytes / 2 ** 20).toFixed(0)} MiB, cached as ${cachedDb}`);
    } finally {
      rmSync(buildDir, { recursive: true, force: true });
    }
    // Drop stale cache files: other generator versions, and this size built from an older schema or catalogue.
    const sameSize = `-o${ORDERS}-m${MERCHANTS}-`;
    for (const f of readdirSync(CACHE_DIR)) {
      if (!/\.(db|json|tmp)$/.test(f) || f.startsWith(key)) continue;
      if (!f.startsWith(`${GENERATOR_VERSION}-`) || f.includes(sameSize)) rmSync(join(CACHE_DIR, f), { force: true });
    }
  }
  tmpDir = mkdtempSync(join(os.tmpdir(), 'shahn-bench-'));
  const dbPath = join(tmpDir, 'shahn.db');
  // send writes: never touch the cached copy
  const resetStore = () => {
    for (const f of [dbPath, `${dbPath}-wal`, `${dbPath}-shm`]) rmSync(f, { force: true });
    copyFileSync(cachedDb, dbPath, fsc.COPYFILE_FICLONE);
  };
  resetStore();
  return { dbPath, resetStore, meta };
}

// ---------------------------------------------------------------- processes

/** A tag new to this run: ref prefixes, profile names. */
const RUN_TAG = Date.now().toString(36);

/** shahn's defaults but for the rate limit (and what the options ask for). */
function shahnEnv(dbPath, extra = {}) {
  return {
    ...envWithoutShahn(),
    SHAHN_DB: dbPath,
    PORT: '0',
    HOST: '127.0.0.1',
    SHAHN_RATE_LIMIT: '0', // 64 connections on one key would otherwise be rate limited (default 100/s)
    SHAHN_DEMO: 'false', // the store has merchants, so there would be no demo data anyway
    // Do not wait for simulated operator calls in flight at shutdown (the processor holds up to 64, 5-30 s each).
    SHAHN_SHUTDOWN_GRACE_MS: '3000',
    ...(ACCESS_LOG ? {} : { SHAHN_ACCESS_LOG: 'false' }),
    ...(NO_PROCESSOR ? { SHAHN_PROCESSOR: 'false' } : {}),
    ...(CHECK_ID_CACHE !== undefined ? { SHAHN_CHECK_ID_CACHE: CHECK_ID_CACHE } : {}),
    ...extra,
  };
}

let spawned = 0;
/** `node bin/shahn.js serve` on the store copy (stdout, with the access log, to a file in the temp dir). */
async function startShahn(dbPath, label, extra = {}) {
  const n = ++spawned;
  const out = join(tmpDir, `shahn-${n}-${label}.out`);
  const fd = openSync(out, 'w');
  // One directory per server process: node writes a profile per thread (main, and workers such as the
  // SQLite background checkpoint), named CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile.
  const profile = CPU_PROF ? join(RESULTS_DIR, 'cpuprof', `${RUN_TAG}-${n}-${label}`) : null;
  if (CPU_PROF) mkdirSync(profile, { recursive: true });
  const nodeArgs = CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : [];
  const env = shahnEnv(dbPath, extra);
  const child = spawn(...onCpu(SERVER_CPU, process.execPath, [...nodeArgs, join(ROOT, 'bin', 'shahn.js'), 'serve']), {
    cwd: ROOT,
    env,
    stdio: ['ignore', fd, fd], // stdout (and the access log) goes to a file, not through this process
  });
  closeSync(fd);
  children.add(child);
  const m = await waitForFile(out, /listening on (http:\/\/127\.0\.0\.1:\d+)/, child, 60_000, 'shahn');
  const shown = Object.fromEntries(Object.entries(env).filter(([k]) => /^(SHAHN_.*|PORT|HOST)$/.test(k)));
  return { label, child, pid: child.pid, url: m[1], out, profile, env: shown };
}

/** The output lines worth a look: warn and above, but for the expected ones (counted). Streams the file (the access log is large). */
async function scanServerOutput(file) {
  const found = { accessLines: 0, simulatorAlerts: 0, graceOver: false, lines: [] };
  const GRACE_OVER = /shutdown grace period over/;
  const rl = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  for await (const l of rl) {
    if (l.charCodeAt(0) !== 123) {
      if (/error|warn|fail/i.test(l)) found.lines.push(l);
      continue;
    }
    const level = /"level":(\d+)/.exec(l);
    if (level && Number(level[1]) < 40) {
      if (l.includes('"request completed"')) found.accessLines++;
      continue;
    }
    try {
      const j = JSON.parse(l);
      if (j.alert === 'order.unknown_error') found.simulatorAlerts++;
      else if (GRACE_OVER.test(j.msg ?? '')) found.graceOver = true;
      else found.lines.push(l);
    } catch {
      found.lines.push(l);
    }
  }
  return found;
}

const serverReports = [];
/** Stop a shahn child and keep what its output says. */
async function stopShahn(s) {
  await stopChild(children, s.child, 15_000);
  const scan = await scanServerOutput(s.out);
  // With the processor on, simulated operator calls (5-30 s) are still in flight at shutdown: the
  // server then exits 1 after SHAHN_SHUTDOWN_GRACE_MS. That is expected here and not reported.
  const expectedExit = s.child.exitCode === 0 || (s.child.exitCode === 1 && !NO_PROCESSOR && scan.graceOver);
  serverReports.push({ label: s.label, pid: s.pid, exit: s.child.exitCode ?? s.child.signalCode, expectedExit, ...scan, lines: scan.lines.slice(-20) });
  rmSync(s.out, { force: true }); // the access log of a phase is hundreds of MB at full speed
}

// ---------------------------------------------------------------- load: wrk scripts and autocannon options

function writeLua(name, body) {
  const f = join(tmpDir, name);
  writeFileSync(f, `-- written by bench/check-id.mjs\n${body}\n${WRK_LUA_REPORT}`, { mode: 0o600 });
  return f;
}
function writeIds(name, ids) {
  const f = join(tmpDir, `${name}.ids`);
  writeFileSync(f, `${ids.join('\n')}\n`);
  return f;
}

/** check-id: GET /v3/mobile/check-id/{id} over the ids in a file (read by init), with an X-Forwarded-For per request when asked. */
const checkIdLua = (apiKey) => `
wrk.headers["X-Access-Token"] = "${apiKey}"
local ids, n, xff = {}, 0, false
function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then ids[#ids + 1] = line end
  end
  xff = args[2] == "xff"
  n = ((tid or 1) - 1) * 7919 -- threads start at different ids
end
function request()
  n = n + 1
  if xff then wrk.headers["X-Forwarded-For"] = "198.51.100." .. ((n % 254) + 1) end
  return wrk.format("GET", "/v3/mobile/check-id/" .. ids[(n % #ids) + 1])
end`;

/**
 * The customer numbers of the send phase: a Djezzy number per request, spread over the whole range by
 * a Park-Miller generator (seeded per wrk run and thread), as real customers' numbers are. Consecutive
 * numbers would all land on the same few pages of the orders-by-number index; spread numbers each
 * update a different page of it, which is what a send costs in production.
 */
const PARK_MILLER = { multiplier: 16807, modulus: 2147483647 };
/** Each load run starts the sequence at its own point: the run's number times this prime. */
const SEED_STEP = 7919;
const spreadNumber = (x) => `07${String(x % 1e8).padStart(8, '0')}`;
const nextSpread = (x) => (x * PARK_MILLER.multiplier) % PARK_MILLER.modulus;

/** send: a new ref per request (a prefix new to every wrk run, the thread, a counter), a spread Djezzy number per request. */
const sendLua = (apiKey) => `
wrk.headers["X-Access-Token"] = "${apiKey}"
wrk.headers["Content-Type"] = "application/json"
local n, prefix, x = 0, "x", 1
function init(args)
  prefix = args[1] .. "-" .. (tid or 1)
  x = tonumber(args[2]) + (tid or 1)
end
function request()
  n = n + 1
  x = (x * ${PARK_MILLER.multiplier}) % ${PARK_MILLER.modulus}
  local body = '{"plan_code":"PREPAID_DJEZZY","MSSIDN":"07' .. string.format("%08d", x % 100000000) .. '","amount":100,"ref":"' .. prefix .. '-' .. n .. '"}'
  return wrk.format("POST", "/v3/mobile/send", nil, body)
end`;

const XFF = (n) => `198.51.100.${(n % 254) + 1}`;
let loadRuns = 0;

/** A check-id load: the wrk script and its arguments, or autocannon options doing the same. */
function checkIdLoad(script, apiKey, idsRef, xff = false) {
  return {
    wrk: { script, args: () => [idsRef.file, xff ? 'xff' : 'direct'] },
    cannon: () => {
      let next = 0;
      return {
        headers: { 'x-access-token': apiKey },
        requests: [{
          method: 'GET',
          setupRequest: (req) => {
            const n = next++;
            const ids = idsRef.ids;
            return { ...req, path: `/v3/mobile/check-id/${ids[n % ids.length]}`, ...(xff ? { headers: { ...req.headers, 'x-forwarded-for': XFF(n) } } : {}) };
          },
        }],
      };
    },
  };
}
function sendLoad(script, apiKey) {
  return {
    wrk: {
      script,
      args: () => {
        const run = ++loadRuns;
        return [`bench-${RUN_TAG}-${run}`, String(run * SEED_STEP)];
      },
    },
    cannon: () => {
      const run = ++loadRuns;
      const prefix = `bench-${RUN_TAG}-${run}`;
      let n = 0;
      let x = run * SEED_STEP + 1;
      return {
        headers: { 'x-access-token': apiKey, 'content-type': 'application/json' },
        requests: [{
          method: 'POST',
          path: '/v3/mobile/send',
          setupRequest: (req) => {
            n++;
            x = nextSpread(x);
            return { ...req, body: `{"plan_code":"PREPAID_DJEZZY","MSSIDN":"${spreadNumber(x)}","amount":100,"ref":"${prefix}-${n}"}` };
          },
        }],
      };
    },
  };
}

/** One load run of `durationS` seconds, wrk's or autocannon's, in one shape. */
async function runLoad(url, load, durationS) {
  if (USE_WRK) {
    const r = await runWrk({ url, connections: CONNECTIONS, threads: THREADS, durationS, script: load.wrk.script, scriptArgs: load.wrk.args(), timeoutS: 10, cpu: LOAD_CPU });
    const s = r.summary;
    if (!s) throw new Error(`wrk printed no WRK_JSON report:\n${r.raw}`);
    const l = s.latencyMs;
    return {
      requests: s.requests,
      ok: s.ok,
      non2xx: s.requests - s.ok,
      statusCodes: s.status,
      errors: { connect: s.errors.connect, read: s.errors.read, write: s.errors.write, timeout: s.errors.timeout },
      seconds: s.durationS,
      latencyMs: { p50: l.p50, p90: l.p90, p99: l.p99, p999: l.p999, max: l.max, mean: l.mean },
      bytes: s.bytes,
      loadgenCpuS: s.cpuS,
    };
  }
  const me0 = process.cpuUsage();
  const { res, lat, status } = await cannon({ url, connections: CONNECTIONS, duration: durationS, ...load.cannon() }, true);
  const me = process.cpuUsage(me0);
  const sorted = Float64Array.from(lat).sort();
  return {
    requests: lat.length,
    ok: res['2xx'],
    non2xx: res.non2xx,
    statusCodes: status,
    errors: { connect: 0, read: res.errors, write: 0, timeout: res.timeouts },
    seconds: res.duration,
    latencyMs: {
      p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), p999: percentile(sorted, 99.9),
      max: sorted[sorted.length - 1], mean: sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length),
    },
    bytes: res.throughput.total,
    loadgenCpuS: (me.user + me.system) / 1e6,
  };
}

/**
 * One phase on one server: wait for the machine to go quiet, `prepare()` (orders to poll), warm up,
 * measure (server CPU from /proc around the load run), then `after()` (what the polled orders were).
 */
async function phase(name, target, load, { prepare, after, bracket } = {}) {
  const idleOther = await waitQuiet(QUIET_WAIT);
  process.stdout.write(`  ${name.padEnd(12)} ${idleOther !== null && idleOther >= NOISY_CORES ? `(machine not quiet after ${QUIET_WAIT} s: ${idleOther} cores busy elsewhere) ` : ''}`);
  const around = [];
  if (bracket) {
    process.stdout.write(`baseline ${BRACKET} s … `);
    around.push(await baselineSlice(bracket, target));
  }
  let prepared;
  if (prepare) {
    process.stdout.write('preparing … ');
    prepared = await prepare();
    if (prepared?.primedIds) process.stdout.write(`(${prepared.primedIds} ids read once in ${prepared.primedInS} s) `);
  }
  if (WARMUP > 0) {
    process.stdout.write(`warm-up ${WARMUP} s … `);
    await runLoad(target.url, load, WARMUP);
  }
  process.stdout.write(`measuring ${DURATION} s … `);
  const cpu0 = procCpuSplit(target.pid);
  const me0 = process.cpuUsage();
  const sys0 = sysCpu();
  const mono0 = process.hrtime.bigint();
  const t0 = performance.now();
  const r = await runLoad(target.url, load, DURATION);
  const wall = (performance.now() - t0) / 1000;
  const mono1 = process.hrtime.bigint();
  const cpu1 = procCpuSplit(target.pid);
  const me = process.cpuUsage(me0);
  const sys1 = sysCpu();
  const afterInfo = after ? await after(prepared) : undefined;
  if (bracket) around.push(await baselineSlice(bracket, target));

  const serverCpuS = cpu0 === null || cpu1 === null ? null : cpu1.user + cpu1.system - cpu0.user - cpu0.system;
  const serverSysS = cpu0 === null || cpu1 === null ? null : cpu1.system - cpu0.system;
  const myCpuS = (me.user + me.system) / 1e6;
  // With autocannon the load generator is this process: count it once.
  const othersOfOurs = (serverCpuS ?? 0) + (r.loadgenCpuS ?? 0) + (USE_WRK ? myCpuS : 0);
  let machine = null;
  if (sys0 && sys1) {
    const cores = os.cpus().length;
    const total = sys1.total - sys0.total;
    const busyCores = ((sys1.busy - sys0.busy) / total) * cores;
    machine = {
      otherBefore: idleOther,
      busyCores: round(busyCores, 2),
      stealPct: round(((sys1.steal - sys0.steal) / total) * 100, 1),
      // Interrupt time is charged to no process; on loopback it is mostly our own traffic, so it is not noise.
      irqCores: round(((sys1.irq - sys0.irq) / total) * cores, 2),
      otherCores: serverCpuS === null ? null : round(Math.max(0, busyCores - ((sys1.irq - sys0.irq) / total) * cores - othersOfOurs / wall), 2),
      loadAverage: os.loadavg().map((v) => round(v, 2)),
    };
  }
  const failed = r.non2xx + r.errors.connect + r.errors.read + r.errors.write + r.errors.timeout;
  const out = {
    name,
    server: target.label,
    requestsPerSec: round(r.ok / r.seconds, 0),
    requests: r.requests,
    ok: r.ok,
    non2xx: r.non2xx,
    errors: r.errors,
    failed,
    statusCodes: r.statusCodes,
    seconds: round(r.seconds, 3),
    latencyMs: Object.fromEntries(Object.entries(r.latencyMs).map(([k, v]) => [k, round(v, 3)])),
    bytesPerResponse: round(r.bytes / Math.max(1, r.requests), 0),
    serverCpuCores: serverCpuS === null ? null : round(serverCpuS / wall, 2),
    serverCpuUsPerRequest: serverCpuS === null ? null : round((serverCpuS * 1e6) / Math.max(1, r.requests), 1),
    /** The kernel's share of it (system time: sockets, the loopback TCP stack, file writes). */
    serverSysUsPerRequest: serverSysS === null ? null : round((serverSysS * 1e6) / Math.max(1, r.requests), 1),
    loadgen: USE_WRK ? 'wrk' : 'autocannon (in process)',
    loadgenCpuCores: r.loadgenCpuS === null ? null : round(r.loadgenCpuS / wall, 2),
    loadgenCpuUsPerRequest: r.loadgenCpuS === null ? null : round((r.loadgenCpuS * 1e6) / Math.max(1, r.requests), 1),
    machine,
    windowUs: { from: Number(mono0 / 1000n), to: Number(mono1 / 1000n) },
    profile: target.profile ?? null,
    ...(afterInfo ? { polled: afterInfo } : {}),
    ...(prepared?.primedIds ? { primed: prepared } : {}),
    ...(bracket ? { bracket: bracketOf(around) } : {}),
  };
  const b = out.bracket;
  log(`${out.requestsPerSec} req/s, p99 ${out.latencyMs.p99} ms, server ${out.serverCpuCores} cores, ${out.serverCpuUsPerRequest} µs/req`
    + `${b ? `; baseline around it ${b.before.serverCpuUsPerRequest} → ${b.after.serverCpuUsPerRequest} µs/req${b.used === 'both' ? '' : ` (only the run ${b.used} counted)`}${b.drifted ? ' (DRIFTED)' : ''}, ratio ${round(out.requestsPerSec / b.requestsPerSec, 2)}` : ''}`
    + `${b && Math.max(b.before.shahnCores ?? 0, b.after.shahnCores ?? 0) >= 0.05 ? ` (the idle shahn used ${b.before.shahnCores} and ${b.after.shahnCores} cores beside it)` : ''}`
    + `${failed ? `  (FAILED ${failed}: status ${JSON.stringify(r.statusCodes)}, socket errors ${JSON.stringify(r.errors)})` : ''}`
    + `${afterInfo ? `  [${afterInfo.note}]` : ''}`);
  return out;
}

/**
 * One bracketing slice: the baseline under its load for BRACKET seconds (it is always warm), with its CPU
 * per request and, to see that the idle shahn server left it the core, that server's CPU meanwhile.
 */
async function baselineSlice({ target, load }, idle) {
  const cpu0 = procCpuSplit(target.pid);
  const idle0 = procCpuSplit(idle.pid);
  const t0 = performance.now();
  const r = await runLoad(target.url, load, BRACKET);
  const wall = (performance.now() - t0) / 1000;
  const cpu1 = procCpuSplit(target.pid);
  const idle1 = procCpuSplit(idle.pid);
  const used = (a, z) => (a === null || z === null ? null : z.user + z.system - a.user - a.system);
  const cpuS = used(cpu0, cpu1);
  const idleS = used(idle0, idle1);
  return {
    requestsPerSec: round(r.ok / r.seconds, 0),
    p99Ms: round(r.latencyMs.p99, 3),
    serverCpuCores: cpuS === null ? null : round(cpuS / wall, 2),
    serverCpuUsPerRequest: cpuS === null ? null : round((cpuS * 1e6) / Math.max(1, r.requests), 1),
    shahnCores: idleS === null ? null : round(idleS / wall, 2),
    failed: r.non2xx + r.errors.connect + r.errors.read + r.errors.write + r.errors.timeout,
  };
}

/**
 * The two slices around a phase as its baseline: their mean, and whether the machine changed speed between
 * them. A slice with failed requests, or during which the idle shahn used 0.05 of a core or more (its
 * processor still settling what the phase left: it shares the baseline's core), is not used when the
 * other one is clean; with neither clean the bracket counts as drifted.
 */
function bracketOf(slices) {
  const clean = slices.filter((s) => s.failed === 0 && s.requestsPerSec > 0 && (s.shahnCores ?? 0) < 0.05);
  const use = clean.length > 0 ? clean : slices;
  const mean = (f) => use.reduce((a, s) => a + f(s), 0) / use.length;
  const [before, after] = slices;
  const drift = clean.length === 2 && before.serverCpuUsPerRequest && after.serverCpuUsPerRequest ? round(after.serverCpuUsPerRequest / before.serverCpuUsPerRequest, 2) : null;
  const cores = use.map((s) => s.serverCpuCores);
  return {
    before,
    after,
    used: use.length === 2 ? 'both' : use[0] === before ? 'before' : 'after',
    requestsPerSec: round(mean((s) => s.requestsPerSec), 0),
    p99Ms: round(mean((s) => s.p99Ms), 3),
    serverCpuUsPerRequest: use.every((s) => s.serverCpuUsPerRequest) ? round(mean((s) => s.serverCpuUsPerRequest), 1) : null,
    serverCpuCores: cores.includes(null) ? null : round(Math.min(...cores), 2),
    drift,
    drifted: clean.length === 0 || (drift !== null && Math.abs(drift - 1) > TARGETS.maxBaselineDrift),
  };
}

// ---------------------------------------------------------------- main

async function main() {
  const git = gitInfo();
  log(`shahn bench: ${git ? `commit ${git.commit}${git.srcChanged ? ' (with uncommitted changes in src/ or packages/)' : ''}, ` : ''}node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), load average ${os.loadavg().map((v) => v.toFixed(2)).join(' ')}`);
  if (LOADGEN_NOTE) log(`\n*** ${LOADGEN_NOTE}\n`);
  const { dbPath, resetStore, meta } = await storeForRun();
  // check-id rotates over the benchmarked merchant's FULFILLED production orders in the sample.
  const raw = new Database(dbPath, { readonly: true, fileMustExist: true });
  const statusOf = raw.prepare('SELECT status FROM orders WHERE id = ?');
  const fulfilledIds = meta.sampleIds.filter((id) => statusOf.get(id)?.status === 'FULFILLED');
  raw.close();
  log(`store: ${meta.orders.toLocaleString('en')} orders (${meta.counts.PRODUCTION.toLocaleString('en')} production), ${meta.merchants} merchants; `
    + `benchmarked merchant has ${meta.counts.bench.PRODUCTION.toLocaleString('en')} production orders; check-id rotates over the ${fulfilledIds.length.toLocaleString('en')} FULFILLED ones of a ${meta.sampleIds.length.toLocaleString('en')}-order sample`);
  log(`store: check-id query plan: ${meta.checkIdQueryPlan.join(' | ')}`);

  const key = meta.bench.productionKey;
  const sandboxKey = meta.bench.sandboxKey;
  const lua = {
    checkId: writeLua('check-id-production.lua', checkIdLua(key)),
    checkIdSandbox: writeLua('check-id-sandbox.lua', checkIdLua(sandboxKey)),
    send: writeLua('send-production.lua', sendLua(key)),
  };
  const fulfilled = { ids: fulfilledIds, file: writeIds('fulfilled', fulfilledIds) };
  const pollSet = { ids: [], file: join(tmpDir, 'poll.ids') };
  const sandboxSet = { ids: [], file: join(tmpDir, 'sandbox-poll.ids') };

  let shahn = await startShahn(dbPath, 'default');
  log(`shahn: ${shahn.url} (pid ${shahn.pid})  env: ${Object.entries(shahn.env).map(([k, v]) => `${k}=${k === 'SHAHN_DB' ? '<temp copy>' : v}`).join(' ')}`);
  log(`shahn: default configuration but for the rate limit (SHAHN_RATE_LIMIT=0): log level info, ${ACCESS_LOG ? 'access log on (one line per request, to a file)' : 'access log OFF (--no-access-log)'}, `
    + `order processor ${NO_PROCESSOR ? 'OFF (--no-processor)' : 'on (in process, simulator at 5-30 s per call)'}${CHECK_ID_CACHE !== undefined ? `, SHAHN_CHECK_ID_CACHE=${CHECK_ID_CACHE}` : ''}`
    + `${ONLY.has('proxy') ? `; the proxy phase runs on a second server started with SHAHN_TRUST_PROXY=${TRUST_PROXY}` : ''}${CPU_PROF ? '; node --cpu-prof on (figures are not comparable)' : ''}`);

  const headers = { 'x-access-token': key };
  // Sanity: one check-id and one send must succeed before any load.
  const probe = await fetch(`${shahn.url}/v3/mobile/check-id/${fulfilledIds[0]}`, { headers });
  const probeBody = await probe.text();
  if (probe.status !== 200) throw new Error(`check-id probe answered ${probe.status}: ${probeBody}`);
  const probeSend = await fetch(`${shahn.url}/v3/mobile/send`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify({ plan_code: 'PREPAID_DJEZZY', MSSIDN: '0770000000', amount: 100, ref: `bench-probe-${RUN_TAG}` }),
  });
  const probeSendBody = await probeSend.text();
  if (probeSend.status !== 200) throw new Error(`send probe answered ${probeSend.status}: ${probeSendBody}`);

  // Profiled too with --cpu-prof: where node:http itself spends a request, for reference.
  const baselineProfile = CPU_PROF ? join(RESULTS_DIR, 'cpuprof', `${RUN_TAG}-0-baseline`) : null;
  if (baselineProfile) mkdirSync(baselineProfile, { recursive: true });
  const baseline = ONLY.has('baseline')
    ? await startBaseline(probeBody, probe.headers.get('x-request-id') ?? '', { dir: tmpDir, children, nodeArgs: baselineProfile ? ['--cpu-prof', `--cpu-prof-dir=${baselineProfile}`] : [], cpu: SERVER_CPU })
    : null;
  const baselineTarget = baseline ? { label: 'baseline', pid: baseline.child.pid, url: baseline.url, profile: baselineProfile } : null;
  if (baseline) log(`baseline: ${baseline.url} (pid ${baseline.child.pid}), node:http answering the same ${Buffer.byteLength(probeBody)}-byte check-id body`);
  log(USE_WRK
    ? `load: wrk (a child process) ${THREADS} thread(s), ${CONNECTIONS} connections, a Lua script per phase (request variety, the key, status counts, latency percentiles); ${WARMUP} s warm-up then ${DURATION} s measured per phase\n`
    : `load: autocannon ${CONNECTIONS} connections from this process (pid ${process.pid}), ${WARMUP} s warm-up then ${DURATION} s measured per phase: RATIOS MAY BE CLIENT-BOUND\n`);

  /** Production (or sandbox) orders sent just before a phase, still open while it polls them. */
  async function sendOrders(url, apiKey, n, tag) {
    const ids = [];
    for (let i = 0; i < n; i += 64) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(64, n - i) }, async (_, j) => {
          const res = await fetch(`${url}/v3/mobile/send`, {
            method: 'POST',
            headers: { 'x-access-token': apiKey, 'content-type': 'application/json' },
            body: JSON.stringify({ plan_code: 'PREPAID_DJEZZY', MSSIDN: `07${String((i + j) % 1e8).padStart(8, '0')}`, amount: 100, ref: `${tag}-${i + j}` }),
          });
          const body = await res.json();
          if (res.status !== 200) throw new Error(`set-up send answered ${res.status}: ${JSON.stringify(body)}`);
          return body.data.topupId;
        }),
      );
      ids.push(...batch);
    }
    return ids;
  }
  /** The statuses of up to 100 of the polled orders at the end of the phase (were they still open?). */
  async function statusesOf(url, apiKey, ids) {
    const step = Math.max(1, Math.floor(ids.length / 100));
    const pick = ids.filter((_, i) => i % step === 0).slice(0, 100);
    const counts = {};
    for (const id of pick) {
      const res = await fetch(`${url}/v3/mobile/check-id/${id}`, { headers: { 'x-access-token': apiKey } });
      const s = res.status === 200 ? (await res.json()).data.status : `HTTP ${res.status}`;
      counts[s] = (counts[s] ?? 0) + 1;
    }
    const open = (counts.PENDING ?? 0) + (counts.HANDLING ?? 0);
    return { sampled: pick.length, statuses: counts, openShare: round(open / Math.max(1, pick.length), 2) };
  }
  /**
   * Every id read once before the warm-up, so the measured run sees the steady state (FULFILLED orders
   * answered from the hot path's cache), not the first reads of cold rows (about 70 µs each from this
   * 440 MiB store, a few thousand of which a 2 s warm-up leaves to the measured run).
   */
  const primed = (target, apiKey, ids, xff = false) => ({
    prepare: async () => {
      const t0 = Date.now();
      let next = 0;
      const bad = {};
      await Promise.all(Array.from({ length: 64 }, async () => {
        while (next < ids.length) {
          const n = next++;
          const res = await fetch(`${target.url}/v3/mobile/check-id/${ids[n]}`, { headers: { 'x-access-token': apiKey, ...(xff ? { 'x-forwarded-for': XFF(n) } : {}) } });
          await res.arrayBuffer();
          if (res.status !== 200) bad[res.status] = (bad[res.status] ?? 0) + 1;
        }
      }));
      if (Object.keys(bad).length > 0) throw new Error(`priming check-id answered ${JSON.stringify(bad)}`);
      return { primedIds: ids.length, primedInS: round((Date.now() - t0) / 1000, 1) };
    },
  });
  const openOrders = (set, apiKey, kind, i) => ({
    prepare: async () => {
      const t0 = Date.now();
      set.ids = await sendOrders(shahn.url, apiKey, POLL_ORDERS, `${kind}-${RUN_TAG}-${i}`);
      writeFileSync(set.file, `${set.ids.join('\n')}\n`);
      return { firstSentAt: t0, sentInS: (Date.now() - t0) / 1000 };
    },
    after: async (prepared) => {
      const ageS = (Date.now() - prepared.firstSentAt) / 1000;
      const s = await statusesOf(shahn.url, apiKey, set.ids);
      return { ...s, orders: set.ids.length, sentInS: round(prepared.sentInS, 1), oldestAgeAtEndS: round(ageS, 1),
        note: `${set.ids.length} orders sent in ${round(prepared.sentInS, 1)} s; at the end ${Math.round(s.openShare * 100)}% of ${s.sampled} sampled still open ${JSON.stringify(s.statuses)}, oldest ${round(ageS, 1)} s old` };
    },
  });

  const rounds = [];
  for (let i = 1; i <= ROUNDS; i++) {
    if (ROUNDS > 1) log(`  round ${i} of ${ROUNDS}`);
    // Every round starts from the same store: a new copy of the cached one (without the probe's send, in
    // the first). Kept, the sends and open orders of the rounds before would leave later rounds a
    // processor with a backlog and a larger store.
    if (shahn) await stopShahn(shahn);
    shahn = null;
    resetStore();
    const r = {};
    // send starts the default server itself when the phases before it have stopped it.
    const needDefault = ['check-id', 'poll', 'sandbox-poll'].some((p) => ONLY.has(p));
    if (!shahn && needDefault) shahn = await startShahn(dbPath, 'default');
    if (baseline) r.baseline = await phase('baseline', baselineTarget, checkIdLoad(lua.checkId, key, fulfilled));
    // Each shahn phase between two short baseline runs (--bracket): its ratios are taken against them.
    const bracket = baseline && BRACKET > 0 ? { target: baselineTarget, load: checkIdLoad(lua.checkId, key, fulfilled) } : undefined;
    const w = (options = {}) => ({ ...options, bracket });
    if (ONLY.has('check-id')) r['check-id'] = await phase('check-id', shahn, checkIdLoad(lua.checkId, key, fulfilled), w(primed(shahn, key, fulfilled.ids)));
    if (ONLY.has('poll')) r.poll = await phase('poll', shahn, checkIdLoad(lua.checkId, key, pollSet), w(openOrders(pollSet, key, 'poll', i)));
    if (ONLY.has('sandbox-poll')) {
      r['sandbox-poll'] = await phase('sandbox-poll', shahn, checkIdLoad(lua.checkIdSandbox, sandboxKey, sandboxSet), w(openOrders(sandboxSet, sandboxKey, 'sandbox', i)));
    }
    // One server at a time (they share the core and the store): the default one stops for the next three.
    if (shahn && ['proxy', 'metrics', 'no-log'].some((p) => ONLY.has(p))) {
      await stopShahn(shahn);
      shahn = null;
    }
    if (ONLY.has('proxy')) {
      // A server that trusts one proxy (loopback, here) to name the client in X-Forwarded-For.
      const proxied = await startShahn(dbPath, 'proxy', { SHAHN_TRUST_PROXY: TRUST_PROXY });
      r.proxy = await phase('proxy', proxied, checkIdLoad(lua.checkId, key, fulfilled, true), w(primed(proxied, key, fulfilled.ids, true)));
      await stopShahn(proxied);
    }
    if (ONLY.has('metrics')) {
      // The same load on a server that serves metrics: every request is timed into the histogram.
      const metered = await startShahn(dbPath, 'metrics', { SHAHN_METRICS_PORT: '0' });
      r.metrics = await phase('metrics', metered, checkIdLoad(lua.checkId, key, fulfilled), w(primed(metered, key, fulfilled.ids)));
      await stopShahn(metered);
    }
    if (ONLY.has('no-log')) {
      // The same load without the access line: its cost, measured against the check-id phase.
      const quiet = await startShahn(dbPath, 'no-log', { SHAHN_ACCESS_LOG: 'false' });
      r['no-log'] = await phase('no-log', quiet, checkIdLoad(lua.checkId, key, fulfilled), w(primed(quiet, key, fulfilled.ids)));
      await stopShahn(quiet);
    }
    // send last: its tens of thousands of new orders would be a backlog for the processor of any
    // phase after it.
    if (ONLY.has('send')) {
      if (!shahn) shahn = await startShahn(dbPath, 'default');
      r.send = await phase('send', shahn, sendLoad(lua.send, key), w());
    }
    // The baseline again: did the machine keep its speed through the round?
    if (baseline) {
      r.baselineEnd = await phase('baseline-end', baselineTarget, checkIdLoad(lua.checkId, key, fulfilled));
      const a = r.baseline.serverCpuUsPerRequest;
      const b = r.baselineEnd.serverCpuUsPerRequest;
      r.baselineDrift = a && b ? round(b / a, 2) : null;
      r.drifted = r.baselineDrift !== null && Math.abs(r.baselineDrift - 1) > TARGETS.maxBaselineDrift;
    }
    // Ratios are paired within a round, so a slow minute hits both sides.
    r.ratios = {};
    r.p99VsBaseline = {};
    for (const n of PHASES.filter((x) => x !== 'baseline')) {
      // Against the baseline run around the phase (--bracket), else against the round's first one.
      const partner = r[n]?.bracket ?? (r.baseline ? { requestsPerSec: r.baseline.requestsPerSec, p99Ms: r.baseline.latencyMs.p99 } : null);
      r.ratios[n] = partner?.requestsPerSec > 0 && r[n] ? round(r[n].requestsPerSec / partner.requestsPerSec, 3) : null;
      r.p99VsBaseline[n] = partner?.p99Ms > 0 && r[n] ? round(r[n].latencyMs.p99 / partner.p99Ms, 2) : null;
    }
    // The client-bound rule: a baseline server below 0.9 of a core was held back by the load generator
    // (or the machine), so its req/s understate what node:http does and every ratio of the round is inflated.
    r.baselineCores = r.baseline?.serverCpuCores ?? null;
    r.clientBound = r.baselineCores === null ? null : r.baselineCores < TARGETS.minBaselineCores;
    // A round is noisy when other processes used a quarter core or more during one of its phases.
    r.noisy = PHASES.some((n) => r[n] && (r[n].machine?.otherCores ?? 0) >= NOISY_CORES);
    rounds.push(r);
  }
  if (shahn) await stopShahn(shahn);
  if (baseline) await stopChild(children, baseline.child, 15_000);

  // Medians over the quiet, steady rounds when there are any (all rounds otherwise).
  /** A phase's ratio counts in a round when its baseline partner (the runs around it, else the round's first) used 0.9 of a core. */
  const countedIn = (r, n) => {
    const cores = r[n]?.bracket ? r[n].bracket.serverCpuCores : r.baselineCores;
    return cores !== null && cores !== undefined && cores >= TARGETS.minBaselineCores;
  };
  // With --bracket each phase has its own baseline, so a round whose speed changed between its first and
  // last baseline still counts; a phase whose two bracketing runs drifted apart is left out instead.
  const clean = rounds.filter((r) => !r.noisy && (BRACKET > 0 || !r.drifted));
  const used = clean.length > 0 ? clean : rounds;

  for (const s of serverReports) {
    if (!s.expectedExit) log(`(shahn ${s.label} pid ${s.pid} exited with ${s.exit})`);
    log(`(shahn ${s.label} pid ${s.pid}: ${s.accessLines.toLocaleString('en')} access-log lines written)`);
    if (s.simulatorAlerts > 0) log(`(shahn ${s.label}: ${s.simulatorAlerts} UNKNOWN_ERROR alert(s) from simulated operator outcomes, as designed)`);
    if (s.lines.length > 0) {
      log(`shahn ${s.label} output at warn or above (${s.lines.length} line(s), last 5):`);
      for (const l of s.lines.slice(-5)) log(`  ${l.length > 300 ? `${l.slice(0, 300)}…` : l}`);
    }
  }

  // ---- medians over the rounds
  const results = {};
  for (const name of PHASES) {
    const rs = used.map((r) => r[name]).filter(Boolean);
    if (rs.length === 0) continue;
    const med = (f, d = 2) => round(median(rs.map(f)), d);
    const statusCodes = {};
    for (const r of rs) for (const [c, n] of Object.entries(r.statusCodes ?? {})) statusCodes[c] = (statusCodes[c] ?? 0) + n;
    results[name] = {
      name,
      requestsPerSec: med((r) => r.requestsPerSec, 0),
      latencyMs: { p50: med((r) => r.latencyMs.p50), p90: med((r) => r.latencyMs.p90), p99: med((r) => r.latencyMs.p99), max: med((r) => r.latencyMs.max) },
      serverCpuCores: med((r) => r.serverCpuCores),
      serverCpuUsPerRequest: med((r) => r.serverCpuUsPerRequest, 1),
      serverSysUsPerRequest: med((r) => r.serverSysUsPerRequest, 1),
      loadgenCpuCores: med((r) => r.loadgenCpuCores),
      bytesPerResponse: med((r) => r.bytesPerResponse, 0),
      failed: rs.reduce((a, r) => a + r.failed, 0),
      statusCodes,
      otherCores: med((r) => r.machine?.otherCores),
    };
  }
  /** Per phase: the median ratio over the rounds that count (baseline not client-bound); all rounds when none does. */
  const ratios = {};
  for (const n of PHASES.filter((x) => x !== 'baseline')) {
    if (!results[n] || !results.baseline) continue;
    const have = used.filter((r) => r[n]);
    const counted = have.filter((r) => countedIn(r, n));
    const steady = counted.filter((r) => !r[n].bracket?.drifted);
    // The rounds the ratio is taken over: counted and steady; else counted; else all that ran the phase.
    const from = steady.length > 0 ? steady : counted.length > 0 ? counted : have;
    ratios[n] = {
      ratio: round(median(from.map((r) => r.ratios[n])), 2),
      p99VsBaseline: round(median(from.map((r) => r.p99VsBaseline[n])), 2),
      /** The phase's p99 and the baseline p99 it was held to (its bracket's, else the round's first baseline's), over the same rounds as the ratio. */
      p99Ms: round(median(from.map((r) => r[n].latencyMs.p99)), 3),
      partnerP99Ms: round(median(from.map((r) => r[n].bracket?.p99Ms ?? r.baseline?.latencyMs.p99)), 3),
      counted: counted.length > 0,
      countedRounds: counted.length,
      clientBoundRounds: have.length - counted.length,
      driftedRounds: counted.length - steady.length,
      /** Every counted round of this phase drifted: the ratio rests on those rounds all the same. */
      allDrifted: counted.length > 0 && steady.length === 0,
    };
  }

  // ---- table and targets
  const header = `${'phase'.padEnd(13)}${col('req/s', 8)}${col('x base', 7)}${col('p50 ms', 8)}${col('p90 ms', 8)}${col('p99 ms', 8)}${col('p99 x', 7)}`
    + `${col('srv cores', 10)}${col('µs/req', 8)}${col('sys µs', 7)}${col('load cores', 11)}${col('failed', 7)}${col('noise', 6)}  ratio`;
  const line = (r, ratio, p99x, bound) =>
    `${r.name.padEnd(13)}${col(r.requestsPerSec, 8)}${col(ratio?.toFixed(2), 7)}${col(r.latencyMs.p50?.toFixed(2), 8)}${col(r.latencyMs.p90?.toFixed(2), 8)}${col(r.latencyMs.p99?.toFixed(2), 8)}${col(p99x?.toFixed(2), 7)}`
    + `${col(r.serverCpuCores?.toFixed(2), 10)}${col(r.serverCpuUsPerRequest?.toFixed(1), 8)}${col(r.serverSysUsPerRequest?.toFixed(1), 7)}${col(r.loadgenCpuCores?.toFixed(2), 11)}${col(r.failed, 7)}${col((r.otherCores ?? r.machine?.otherCores)?.toFixed(2), 6)}  ${bound}`;
  const baseBound = (cores) => (cores === null || cores === undefined ? '(no /proc)' : cores < TARGETS.minBaselineCores ? `CLIENT-BOUND (baseline < ${TARGETS.minBaselineCores} core)` : 'server-bound');
  if (ROUNDS > 1) {
    for (const [i, r] of rounds.entries()) {
      const drift = r.baselineEnd ? `; the baseline cost ${r.baseline.serverCpuUsPerRequest} µs/req at its start, ${r.baselineEnd.serverCpuUsPerRequest} at its end${r.drifted ? ` (drifted by more than ${TARGETS.maxBaselineDrift * 100}%)` : ''}` : '';
      log(`\nround ${i + 1}${r.noisy ? ` (noisy: other processes used >= ${NOISY_CORES} cores in a phase)` : ''}${drift}`);
      log(header);
      for (const name of PHASES) {
        if (!r[name]) continue;
        if (name === 'baseline') log(line(r[name], 1, 1, baseBound(r.baselineCores)));
        else {
          const b = r[name].bracket;
          const label = !countedIn(r, name) ? 'not counted (client-bound)' : b?.drifted ? `drifted (baseline around it ${b.before.serverCpuUsPerRequest} → ${b.after.serverCpuUsPerRequest} µs/req)` : 'counted';
          log(line(r[name], r.ratios[name], r.p99VsBaseline[name], label));
        }
      }
    }
    log(clean.length > 0
      ? `\nmedian of the ${clean.length} quiet, steady round(s) of ${ROUNDS}${clean.length < ROUNDS ? ` (${ROUNDS - clean.length} noisy or drifted round(s) left out)` : ''}`
      : `\nmedian of all ${ROUNDS} rounds (every round was noisy or drifted: treat these figures with care)`);
  } else log(rounds[0].noisy ? `\n(noisy run: other processes used >= ${NOISY_CORES} cores in a phase; treat these figures with care)` : '');
  log(header);
  for (const r of Object.values(results)) {
    if (r.name === 'baseline') log(line(r, 1, 1, baseBound(r.serverCpuCores)));
    else {
      const q = ratios[r.name];
      const left = [q?.clientBoundRounds ? `${q.clientBoundRounds} client-bound` : '', q?.driftedRounds && !q.allDrifted ? `${q.driftedRounds} drifted` : ''].filter(Boolean).join(', ');
      const label = !q ? '-' : !q.counted ? 'NOT COUNTED (client-bound)' : q.allDrifted ? 'counted, but every round of it drifted' : `counted${left ? ` (${left} round(s) left out)` : ''}`;
      log(line(r, q?.ratio, q?.p99VsBaseline, label));
    }
  }
  log(`  ${USE_WRK ? 'wrk' : 'autocannon'} latency per request (µs resolution); srv cores: the server process's CPU (/proc utime+stime) over the measured run, in cores; µs/req: that CPU per request;`);
  log('  sys µs: the kernel (system time) part of µs/req;');
  log(`  load cores: the load generator's CPU (${USE_WRK ? 'wrk' : 'autocannon, this process'}); x base and p99 x: req/s and p99 over the baseline's${BRACKET > 0 ? ` in the ${BRACKET} s runs just before and after the phase (the mean of the two)` : ' in the same round'}; failed: non-2xx + socket errors + timeouts;`);
  log('  noise: cores busy outside the server, the load generator and this script during the phase (interrupt time, mostly the loopback traffic, left out)');
  for (const n of PHASES) if (results[n]) log(`  ${n.padEnd(13)} ${PHASE_INFO[n]}`);
  for (const n of ['poll', 'sandbox-poll']) {
    for (const [i, r] of rounds.entries()) if (r[n]?.polled) log(`  ${n} round ${i + 1}: ${r[n].polled.note}`);
  }

  const checks = [];
  const failedWhy = (r) => `${r.failed} failed request(s): status ${JSON.stringify(r.statusCodes)}`;
  const clientBoundWhy = (n) => {
    const cores = used.filter((r) => r[n]).map((r) => (r[n].bracket ? r[n].bracket.serverCpuCores : r.baselineCores)).filter((c) => c !== null && c !== undefined);
    return `the baseline server used ${cores.join(', ')} core(s) (< ${TARGETS.minBaselineCores}): the load generator or the machine, not node:http, set its pace, so its req/s is capped and the ratio inflated`;
  };
  const ratioCheck = (n, min) => {
    const r = results[n];
    const q = ratios[n];
    const target = `${n}: req/s >= ${min} x baseline`;
    if (r.failed > 0) return { target, value: q.ratio, verdict: 'FAIL', why: failedWhy(r) };
    if (!q.counted) return { target, value: q.ratio, verdict: 'NOT COUNTED', why: clientBoundWhy(n) };
    return { target, value: q.ratio, verdict: q.ratio >= min ? 'PASS' : 'FAIL' };
  };
  for (const n of CHECK_ID_PHASES) {
    if (!results[n] || !ratios[n]) continue;
    checks.push(ratioCheck(n, TARGETS.checkIdRatio));
    const r = results[n];
    const q = ratios[n];
    const target = `${n}: p99 <= ${TARGETS.p99VsBaseline} x baseline p99`;
    const value = `${q.p99VsBaseline}x (${q.p99Ms} ms vs ${q.partnerP99Ms} ms)`;
    checks.push(r.failed > 0 ? { target, value, verdict: 'FAIL', why: failedWhy(r) } : { target, value, verdict: q.p99VsBaseline <= TARGETS.p99VsBaseline ? 'PASS' : 'FAIL' });
  }
  if (results.send && ratios.send) checks.push(ratioCheck('send', TARGETS.sendRatio));
  if (results.metrics && results['check-id']) {
    // CPU per request, with metrics against without (the check-id phase of the same run): req/s ratios move
    // with the machine. With --bracket, each over the baseline's cost around it, round by round.
    const relative = (r, n) => (r[n]?.bracket?.serverCpuUsPerRequest ? r[n].serverCpuUsPerRequest / r[n].bracket.serverCpuUsPerRequest : null);
    const steadyIn = (r, n) => countedIn(r, n) && !r[n].bracket?.drifted;
    const paired = used
      .filter((r) => steadyIn(r, 'metrics') && steadyIn(r, 'check-id'))
      .map((r) => [relative(r, 'metrics'), relative(r, 'check-id')])
      .filter(([a, b]) => a !== null && b !== null);
    const cost = paired.length > 0
      ? median(paired.map(([a, b]) => a / b - 1))
      : results.metrics.serverCpuUsPerRequest / results['check-id'].serverCpuUsPerRequest - 1;
    checks.push({
      target: `metrics: check-id CPU/req <= +${TARGETS.metricsCost * 100}%`,
      value: `${cost >= 0 ? '+' : ''}${round(cost * 100, 1)}% (${paired.length > 0 ? `each over its bracketing baseline, median of ${paired.length} round(s); ` : ''}${results.metrics.serverCpuUsPerRequest} vs ${results['check-id'].serverCpuUsPerRequest} µs; req/s ${results.metrics.requestsPerSec} vs ${results['check-id'].requestsPerSec})`,
      verdict: cost <= TARGETS.metricsCost ? 'PASS' : 'FAIL',
    });
  }
  if (results['no-log'] && results['check-id']) {
    const cost = results['check-id'].serverCpuUsPerRequest / results['no-log'].serverCpuUsPerRequest - 1;
    log(`access log: check-id CPU/req ${cost >= 0 ? '+' : ''}${round(cost * 100, 1)}% with the access line (${results['check-id'].serverCpuUsPerRequest} µs) against without (${results['no-log'].serverCpuUsPerRequest} µs)`);
  }
  log('');
  for (const c of checks) log(`${c.verdict.padEnd(11)} ${c.target.padEnd(38)} ${c.value}${c.why ? `   (${c.why})` : ''}`);
  if (checks.length === 0) log('(no targets: the baseline or the shahn phases were left out with --only)');
  if (CPU_PROF) log('(profiled run: the profiler slows the server, so these verdicts are not the real ones)');
  if (LOADGEN_NOTE) log(`(${LOADGEN_NOTE})`);

  // ---- CPU profiles: each phase's measured windows in the profile of the server it ran on
  const profiles = {};
  if (CPU_PROF) {
    for (const n of PHASES) {
      const parts = [];
      for (const r of rounds) {
        const p = r[n];
        if (!p?.profile) continue;
        const files = existsSync(p.profile) ? profileFiles(p.profile) : [];
        if (files.length === 0) log(`(no profile in ${p.profile}: the server did not exit normally)`);
        for (const f of files) parts.push({ ...f, windows: [[p.windowUs.from, p.windowUs.to]] });
      }
      if (parts.length === 0) continue;
      const s = summarizeProfile(parts);
      const threads = parts.map((p) => ({ thread: p.thread, file: p.file, busyS: round(summarizeProfile([p]).busyUs / 1e6, 2) }));
      const byThread = new Map();
      for (const t of threads) byThread.set(t.thread, round((byThread.get(t.thread) ?? 0) + t.busyS, 2));
      const dirs = [...new Set(rounds.map((r) => r[n]?.profile).filter(Boolean))];
      log(`\n${formatSummary(s, { top: PROFILE_TOP, title: `CPU profile, phase ${n} (measured window only, all threads; ${dirs.join(', ')})`, without: ['writev'] }).join('\n')}`);
      log(`  busy s by thread: ${[...byThread].map(([t, b]) => `${t === 0 ? 'main' : `worker ${t}`} ${b}`).join(', ')}`);
      profiles[n] = { ...s, threads, functions: s.functions.slice(0, 50), byFile: s.byFile.slice(0, 50) };
    }
  }

  const out = {
    at: new Date().toISOString(),
    git,
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    loadAverage: os.loadavg(),
    loadgen: USE_WRK ? { tool: 'wrk', threads: THREADS, connections: CONNECTIONS } : { tool: 'autocannon', connections: CONNECTIONS, note: LOADGEN_NOTE },
    options: {
      orders: ORDERS, merchants: MERCHANTS, duration: DURATION, warmup: WARMUP, connections: CONNECTIONS, threads: THREADS, rounds: ROUNDS,
      pollOrders: POLL_ORDERS, accessLog: ACCESS_LOG, processor: !NO_PROCESSOR, trustProxy: TRUST_PROXY, checkIdCache: CHECK_ID_CACHE ?? null, cpuProf: CPU_PROF, only: [...ONLY], pin: PIN, bracket: BRACKET,
    },
    server: { env: shahnEnv('<temp copy of the cached store>', ONLY.has('proxy') ? { SHAHN_TRUST_PROXY: `${TRUST_PROXY} (proxy phase only)` } : {}), reports: serverReports },
    store: { key: meta.key, orders: meta.orders, merchants: meta.merchants, counts: meta.counts, sampleIds: meta.sampleIds.length, fulfilledIds: fulfilledIds.length, dbBytes: meta.dbBytes, checkIdQueryPlan: meta.checkIdQueryPlan },
    responseBytes: { checkId: Buffer.byteLength(probeBody), send: Buffer.byteLength(probeSendBody) },
    results,
    ratios,
    quietRounds: clean.length,
    rounds,
    targets: TARGETS,
    checks,
    profiles,
  };
  out.server.env = Object.fromEntries(Object.entries(out.server.env).filter(([k]) => /^(SHAHN_.*|PORT|HOST)$/.test(k)));
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, 'latest.json'), `${JSON.stringify(out, null, 2)}\n`);
  log(`\nresults: ${join(RESULTS_DIR, 'latest.json')}`);
  if (checks.some((c) => c.verdict === 'FAIL')) return 1;
  if (checks.some((c) => c.verdict === 'NOT COUNTED')) return 3;
  return 0;
}

runMain(main, cleanup);
